"""Malformed but correctly signed requests to SQS (both protocols), SNS, S3 and the event
source mapping API: every answer is an error in the service's shape, never a 5xx (501
NotImplemented aside) and never a crash. Seeded, so a failure reproduces."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e import NimbusServer, unique

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
VALUES = [
    "", "x", "0", "-1", "1e309", "true", "é", "\x00", "a" * 300, "{}", "[", "%", "All", ".*",
    "String", "Number", "Binary", "String.Array", "http://127.0.0.1:1/",
    "arn:aws:sns:us-east-1:000000000000:t", "arn:aws:sqs:us-east-1:000000000000:q",
]  # fmt: skip


class Signed:
    def __init__(self, server: NimbusServer) -> None:
        keys = server.credentials
        self.credentials = Credentials(keys["access_key_id"], keys["secret_access_key"])
        self.endpoint = server.endpoint

    def send(
        self, service: str, method: str, path: str, body: bytes = b"", **headers: str
    ) -> tuple[int, bytes]:
        request = AWSRequest(method=method, url=self.endpoint + path, data=body, headers=headers)
        signer = S3SigV4Auth if service == "s3" else SigV4Auth
        signer(self.credentials, service, "us-east-1").add_auth(request)
        prepared = request.prepare()
        data = body if method not in ("GET", "HEAD") else None
        raw = urllib.request.Request(
            prepared.url, data=data, method=method, headers=dict(prepared.headers)
        )
        try:
            with urllib.request.urlopen(raw, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def check(failures: list[Any], what: Any, status: int, body: bytes) -> None:
    if status >= 500 and status != 501:
        failures.append((what, status, body[:200]))


def test_query_protocols_never_fail_on_input(server: NimbusServer) -> None:
    signed, rng, failures = Signed(server), random.Random(11), []  # type: ignore[var-annotated]
    queue_url = f"{server.endpoint}/000000000000/{unique('fuzz')}"
    create = {"Action": "CreateQueue", "QueueName": queue_url.rsplit("/", 1)[1]}
    signed.send("sqs", "POST", "/", urllib.parse.urlencode(create).encode(), **FORM)
    sns_keys = [
        "TopicArn", "Message", "Subject", "Protocol", "Endpoint", "Name", "AttributeName",
        "AttributeValue", "SubscriptionArn", "Token", "MessageStructure", "NextToken",
        "MessageAttributes.entry.1.Name", "MessageAttributes.entry.1.Value.DataType",
        "MessageAttributes.entry.1.Value.StringValue",
        "MessageAttributes.entry.1.Value.BinaryValue",
        "PublishBatchRequestEntries.member.1.Id", "PublishBatchRequestEntries.member.1.Message",
        "Attributes.entry.1.key", "Attributes.entry.1.value", "Tags.member.1.Key",
    ]  # fmt: skip
    sns_ops = [
        "Publish",
        "PublishBatch",
        "Subscribe",
        "SetSubscriptionAttributes",
        "CreateTopic",
        "SetTopicAttributes",
        "Unsubscribe",
        "ConfirmSubscription",
        "TagResource",
    ]
    sqs_keys = [
        "QueueUrl", "MessageBody", "QueueName", "ReceiptHandle", "VisibilityTimeout",
        "MaxNumberOfMessages", "WaitTimeSeconds", "DelaySeconds", "MessageGroupId",
        "Attribute.1.Name", "Attribute.1.Value", "MessageAttribute.1.Name",
        "MessageAttribute.1.Value.DataType", "MessageAttribute.1.Value.StringValue",
        "SendMessageBatchRequestEntry.1.Id", "SendMessageBatchRequestEntry.1.MessageBody",
        "AttributeName.1", "MessageAttributeName.1",
    ]  # fmt: skip
    sqs_ops = [
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "ChangeMessageVisibility",
        "SetQueueAttributes",
        "CreateQueue",
        "DeleteMessageBatch",
        "GetQueueAttributes",
    ]
    for _ in range(150):
        params = {"Action": rng.choice(sns_ops)}
        params.update({k: rng.choice(VALUES) for k in rng.sample(sns_keys, rng.randint(1, 8))})
        body = urllib.parse.urlencode(params).encode()
        check(failures, params, *signed.send("sns", "POST", "/", body, **FORM))
        params = {"Action": rng.choice(sqs_ops)}
        params.update({k: rng.choice(VALUES) for k in rng.sample(sqs_keys, rng.randint(1, 8))})
        params["QueueUrl"] = queue_url if rng.random() < 0.7 else params.get("QueueUrl", "")
        body = urllib.parse.urlencode(params).encode()
        check(failures, params, *signed.send("sqs", "POST", "/", body, **FORM))
        document = {
            key.split(".")[0]: rng.choice([rng.choice(VALUES), 5, None, [], {}, [{"Id": "x"}]])
            for key in rng.sample(sqs_keys, rng.randint(1, 6))
        }
        document["QueueUrl"] = queue_url
        target = {"X-Amz-Target": "AmazonSQS." + rng.choice(sqs_ops),
                  "Content-Type": "application/x-amz-json-1.0"}  # fmt: skip
        check(failures, document, *signed.send("sqs", "POST", "/", json.dumps(document).encode(),
                                                **target))  # fmt: skip
    assert not failures, failures[:5]


def test_s3_and_mappings_never_fail_on_input(server: NimbusServer) -> None:
    signed, rng, failures = Signed(server), random.Random(7), []  # type: ignore[var-annotated]
    bucket = unique("fuzz")
    signed.send("s3", "PUT", f"/{bucket}")
    documents = [
        b"", b"<", b"<Delete><Object></Object></Delete>",
        b"<VersioningConfiguration><Status>Maybe</Status></VersioningConfiguration>",
        b"<NotificationConfiguration><QueueConfiguration><Queue>x</Queue>"
        b"</QueueConfiguration></NotificationConfiguration>",
        b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<Tagging>&b;</Tagging>",
    ]  # fmt: skip
    headers: list[dict[str, str]] = [
        {}, {"Range": "bytes=9-1"}, {"x-amz-copy-source": "/%FF"}, {"Content-MD5": "zz"},
        {"x-amz-checksum-crc32": "!!"}, {"If-Modified-Since": "garbage"},
    ]  # fmt: skip
    paths = ["/%FF%FE/k", "/k?tagging", "?versioning", "?notification", "/k?uploadId=zzz",
             "/k?partNumber=abc&uploadId=x", "?delete", "?list-type=2&max-keys=-5",
             "?list-type=2&continuation-token=%FF", "/k?uploads", "?versions&version-id-marker=x",
             "/%2e%2e/%2e%2e/etc/passwd", "?tagging", "/k?acl"]  # fmt: skip
    for path in paths:
        target = path if path.startswith("/%FF") else f"/{bucket}{path}"
        for method in ("GET", "PUT", "POST", "DELETE", "HEAD"):
            body = rng.choice(documents)
            status, reply = signed.send("s3", method, target, body, **rng.choice(headers))
            check(failures, (method, target, body[:40]), status, reply)
    for document in [
        b"{",
        b'{"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:nope", "FunctionName": "x"}',
        b'{"EventSourceArn": "x", "FunctionName": "x", "BatchSize": 0}',
        b'{"EventSourceArn": "x", "FunctionName": "x", "FilterCriteria": {"Filters": '
        b'[{"Pattern": "{"}]}}',
    ]:
        status, reply = signed.send(
            "lambda", "POST", "/2015-03-31/event-source-mappings/", document,
            **{"Content-Type": "application/json"},
        )  # fmt: skip
        check(failures, document, status, reply)
    assert not failures, failures[:5]
