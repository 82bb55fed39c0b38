"""SQS' older query protocol (form `Action=...&Version=2012-11-05`, XML replies), as
older SDKs send it: requests built by botocore's query serializer from SQS' model with
the legacy wire names, signed with botocore's SigV4Auth, sent with httpx; replies read
by botocore's query parser (and checked as raw XML where it matters)."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import botocore.session
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import ServiceModel
from botocore.parsers import QueryParser
from botocore.serialize import QuerySerializer
from e2e import REGION, NimbusServer, unique

from nimbus.protocol import awsquery
from nimbus.protocol.sqs_md5 import md5_of_attributes

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"
_session = botocore.session.get_session()
MODEL = ServiceModel(
    awsquery.with_location_names(_session.get_service_data("sqs"), awsquery.SQS_LEGACY_NAMES),
    "sqs",
)


class QueryClient:
    def __init__(self, server: NimbusServer) -> None:
        credentials = server.credentials
        self.credentials = Credentials(
            credentials["access_key_id"], credentials["secret_access_key"]
        )
        self.endpoint = server.endpoint
        self.http = httpx.Client(timeout=30)

    def raw(self, pairs: list[tuple[str, str]], path: str = "/") -> httpx.Response:
        body = urlencode(pairs)
        request = AWSRequest(
            method="POST",
            url=self.endpoint + path,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        SigV4Auth(self.credentials, "sqs", REGION).add_auth(request)
        return self.http.post(
            self.endpoint + path, content=body, headers=dict(request.headers.items())
        )

    def call(self, operation: str, path: str = "/", **params: Any) -> dict[str, Any]:
        """botocore-serialized request; the parsed reply (raises on an error reply)."""
        model = MODEL.operation_model(operation)
        serialized = QuerySerializer().serialize_to_request(params, model)
        pairs = list(serialized["body"].items())
        response = self.raw(pairs, path)
        parsed: dict[str, Any] = QueryParser().parse(
            {"body": response.content, "headers": response.headers,
             "status_code": response.status_code},
            model.output_shape,
        )  # fmt: skip
        if response.status_code != 200:
            raise AssertionError(f"{operation}: {response.status_code} {response.text}")
        return parsed


@pytest.fixture(scope="module")
def query(server: NimbusServer) -> QueryClient:
    return QueryClient(server)


def test_round_trip_over_query(query: QueryClient, sqs: Any) -> None:
    name = unique("qp")
    url = query.call(
        "CreateQueue", QueueName=name, Attributes={"VisibilityTimeout": "9"}, tags={"t": "1"}
    )["QueueUrl"]
    assert url.endswith(f"/{name}")
    assert query.call("GetQueueUrl", QueueName=name)["QueueUrl"] == url
    attributes: dict[str, dict[str, Any]] = {
        "s": {"DataType": "String", "StringValue": "v & <x>"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    sent = query.call(
        "SendMessage", QueueUrl=url, MessageBody="hello <query>", MessageAttributes=attributes
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"hello <query>").hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    batch = query.call(
        "SendMessageBatch",
        QueueUrl=url,
        Entries=[{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two"}],
    )
    assert [e["Id"] for e in batch["Successful"]] == ["a", "b"]
    got = query.call(
        "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"]  # fmt: skip
    assert sorted(m["Body"] for m in got) == ["hello <query>", "one", "two"]
    first = next(m for m in got if m["Body"] == "hello <query>")
    assert first["MessageAttributes"] == attributes
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    # The same queue, seen through the JSON protocol.
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"
    ] == {"VisibilityTimeout": "9"}
    assert query.call("ListQueueTags", QueueUrl=url)["Tags"] == {"t": "1"}
    deleted = query.call(
        "DeleteMessageBatch",
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
    )
    assert len(deleted["Successful"]) == 3
    counts = query.call(
        "GetQueueAttributes", QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0"}
    assert url in query.call("ListQueues", QueueNamePrefix=name)["QueueUrls"]
    query.call("DeleteQueue", QueueUrl=url)


def test_post_to_the_queue_url_path(query: QueryClient, sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("qp"))["QueueUrl"]
    path = "/" + url.split("/", 3)[3]
    response = query.raw(
        [("Action", "SendMessage"), ("Version", "2012-11-05"), ("MessageBody", "by path")], path
    )
    assert response.status_code == 200, response.text
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{NS}SendMessageResponse"
    result = root.find(f"{NS}SendMessageResult")
    assert result is not None
    assert result.findtext(f"{NS}MD5OfMessageBody") == hashlib.md5(b"by path").hexdigest()
    assert root.findtext(f"{NS}ResponseMetadata/{NS}RequestId")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "by path"
    empty = query.raw([("Action", "PurgeQueue"), ("Version", "2012-11-05")], path)
    assert empty.status_code == 200
    root = ElementTree.fromstring(empty.content)
    assert [child.tag for child in root] == [f"{NS}ResponseMetadata"]


def test_errors_over_query(query: QueryClient, server: NimbusServer) -> None:
    response = query.raw(
        [("Action", "GetQueueUrl"), ("Version", "2012-11-05"), ("QueueName", unique("nope"))]
    )
    assert response.status_code == 400
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{NS}ErrorResponse"
    assert root.findtext(f"{NS}Error/{NS}Type") == "Sender"
    assert root.findtext(f"{NS}Error/{NS}Code") == "AWS.SimpleQueueService.NonExistentQueue"
    assert root.findtext(f"{NS}Error/{NS}Message") == "The specified queue does not exist."
    assert root.findtext(f"{NS}RequestId")
    response = query.raw(
        [("Action", "CreateQueue"), ("QueueName", unique("q")),
         ("Attribute.1.Name", "VisibilityTimeout"), ("Attribute.1.Value", "99999")]
    )  # fmt: skip
    root = ElementTree.fromstring(response.content)
    assert root.findtext(f"{NS}Error/{NS}Code") == "InvalidAttributeValue"
    response = query.raw([("Action", "Frobnicate")])
    root = ElementTree.fromstring(response.content)
    assert response.status_code == 400
    assert root.findtext(f"{NS}Error/{NS}Code") == "InvalidAction"
    response = query.raw([("Action", "SendMessage"), ("MessageBody", "x")])
    root = ElementTree.fromstring(response.content)
    assert root.findtext(f"{NS}Error/{NS}Code") == "MissingParameter"
