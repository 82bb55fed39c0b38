"""Round trips of the query codec against botocore's own query serializer and parser."""

from __future__ import annotations

import datetime as dt
from typing import Any
from xml.etree import ElementTree

import botocore.session
import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from nimbus.errors import ValidationError
from nimbus.protocol import awsquery

SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/"
SQS_NS = "http://queue.amazonaws.com/doc/2012-11-05/"
_session = botocore.session.get_session()
SNS = _session.get_service_model("sns")
SQS = ServiceModel(
    awsquery.with_location_names(_session.get_service_data("sqs"), awsquery.SQS_LEGACY_NAMES),
    "sqs",
)


def _wire(model: ServiceModel, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """What botocore puts in the form body, as the pairs a server reads back."""
    request = create_serializer("query").serialize_to_request(
        params, model.operation_model(operation)
    )
    body = request["body"]
    assert body["Action"] == operation
    # botocore urlencodes the dict; go through the real encoding to cover '+' and '%'.
    from urllib.parse import urlencode

    return awsquery.parse_form(urlencode(body, doseq=True).encode())


def _round_trip(model: ServiceModel, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    return awsquery.decode(
        _wire(model, operation, params), model.operation_model(operation).input_shape
    )


def _parse(model: ServiceModel, operation: str, body: bytes) -> dict[str, Any]:
    op = model.operation_model(operation)
    parsed: dict[str, Any] = create_parser("query").parse(
        {"body": body, "headers": {}, "status_code": 200}, op.output_shape
    )
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    return parsed


def test_publish_with_message_attributes() -> None:
    params = {
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
        "Message": "héllo & <world> + 100%\r\nline",
        "Subject": "s p a c e",
        "MessageAttributes": {
            "color": {"DataType": "String", "StringValue": "blue"},
            "n": {"DataType": "Number", "StringValue": "12.5"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
            "list": {"DataType": "String.Array", "StringValue": '["a", 1]'},
        },
    }
    wire = dict(_wire(SNS, "Publish", params))
    assert wire["MessageAttributes.entry.1.Name"] == "color"
    assert wire["MessageAttributes.entry.1.Value.DataType"] == "String"
    assert _round_trip(SNS, "Publish", params) == params


def test_subscription_attributes_and_booleans() -> None:
    params = {
        "SubscriptionArn": "arn:aws:sns:us-east-1:000000000000:t:abc",
        "AttributeName": "RawMessageDelivery",
        "AttributeValue": "true",
    }
    assert _round_trip(SNS, "SetSubscriptionAttributes", params) == params
    sub = {
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
        "Protocol": "sqs",
        "Endpoint": "arn:aws:sqs:us-east-1:000000000000:q",
        "Attributes": {"FilterPolicy": '{"a": ["b"]}', "RawMessageDelivery": "true"},
        "ReturnSubscriptionArn": True,
    }
    assert _round_trip(SNS, "Subscribe", sub) == sub
    false = dict(sub, ReturnSubscriptionArn=False)
    assert _round_trip(SNS, "Subscribe", false) == false


def test_publish_batch_lists_of_structures() -> None:
    params = {
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
        "PublishBatchRequestEntries": [
            {
                "Id": "1",
                "Message": "a",
                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
            },
            {"Id": "2", "Message": "b", "Subject": "x"},
        ],
    }
    assert _round_trip(SNS, "PublishBatch", params) == params


def test_create_topic_tags_and_empty_list() -> None:
    params = {
        "Name": "t",
        "Attributes": {"DisplayName": "d"},
        "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}],
    }
    assert _round_trip(SNS, "CreateTopic", params) == params
    empty = {"ResourceArn": "arn:aws:sns:us-east-1:000000000000:t", "TagKeys": []}
    assert _round_trip(SNS, "UntagResource", empty) == empty


def test_unknown_keys_ignored_and_bad_types_rejected() -> None:
    shape = SNS.operation_model("ListTopics").input_shape
    assert awsquery.decode([("Action", "ListTopics"), ("Foo.1", "x")], shape) == {}
    sub = SNS.operation_model("Subscribe").input_shape
    with pytest.raises(ValidationError):
        awsquery.decode([("ReturnSubscriptionArn", "maybe")], sub)
    sqs_send = SQS.operation_model("SendMessage").input_shape
    with pytest.raises(ValidationError):
        awsquery.decode([("DelaySeconds", "soon")], sqs_send)


def test_encode_list_topics_and_attributes() -> None:
    output = {
        "Topics": [{"TopicArn": "arn:aws:sns:us-east-1:000000000000:a"}, {"TopicArn": "b&c"}],
        "NextToken": "tok<en>",
    }
    body = awsquery.encode(SNS.operation_model("ListTopics"), output, "req-1", SNS_NS)
    assert body.startswith(b'<ListTopicsResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">')
    assert _parse(SNS, "ListTopics", body) == output
    attrs = {"Attributes": {"Policy": '{"a": "<b>"}', "DisplayName": "x\r\ny"}}
    body = awsquery.encode(SNS.operation_model("GetTopicAttributes"), attrs, "req-1", SNS_NS)
    assert _parse(SNS, "GetTopicAttributes", body) == attrs


def test_encode_publish_batch_and_empty_output() -> None:
    output = {
        "Successful": [{"Id": "1", "MessageId": "m1"}],
        "Failed": [{"Id": "2", "Code": "InvalidParameter", "Message": "bad", "SenderFault": True}],
    }
    body = awsquery.encode(SNS.operation_model("PublishBatch"), output, "req-1", SNS_NS)
    assert _parse(SNS, "PublishBatch", body) == output
    body = awsquery.encode(SNS.operation_model("DeleteTopic"), {}, "req-1", SNS_NS)
    root = ElementTree.fromstring(body)
    assert root.tag == f"{{{SNS_NS}}}DeleteTopicResponse"
    assert [child.tag.split("}")[1] for child in root] == ["ResponseMetadata"]


def test_sqs_legacy_send_message() -> None:
    params = {
        "QueueUrl": "http://localhost/000000000000/q",
        "MessageBody": "body + text",
        "DelaySeconds": 5,
        "MessageAttributes": {
            "a": {"DataType": "String", "StringValue": "x"},
            "b": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
            "c": {"DataType": "Number.int", "StringValue": "3"},
        },
    }
    wire = dict(_wire(SQS, "SendMessage", params))
    assert wire["MessageAttribute.1.Name"] == "a"
    assert wire["MessageAttribute.1.Value.DataType"] == "String"
    assert wire["MessageAttribute.2.Value.BinaryValue"] == "AQI="
    assert _round_trip(SQS, "SendMessage", params) == params
    # Hand-written pairs, as an old SDK sends them (no botocore involved).
    decoded = awsquery.decode(
        [
            ("Action", "ReceiveMessage"),
            ("QueueUrl", "u"),
            ("AttributeName.1", "All"),
            ("MessageAttributeName.1", "a"),
            ("MessageAttributeName.2", "b"),
            ("MaxNumberOfMessages", "10"),
        ],
        SQS.operation_model("ReceiveMessage").input_shape,
    )
    assert decoded == {
        "QueueUrl": "u",
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["a", "b"],
        "MaxNumberOfMessages": 10,
    }


def test_sqs_legacy_batch_and_queue_attributes() -> None:
    params = {
        "QueueUrl": "u",
        "Entries": [
            {
                "Id": "1",
                "MessageBody": "a",
                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
            },
            {"Id": "2", "MessageBody": "b", "DelaySeconds": 1},
        ],
    }
    wire = dict(_wire(SQS, "SendMessageBatch", params))
    assert wire["SendMessageBatchRequestEntry.1.MessageAttribute.1.Name"] == "k"
    assert _round_trip(SQS, "SendMessageBatch", params) == params
    create = {"QueueName": "q", "Attributes": {"VisibilityTimeout": "30"}, "tags": {"team": "x"}}
    wire = dict(_wire(SQS, "CreateQueue", create))
    assert wire["Attribute.1.Name"] == "VisibilityTimeout"
    assert wire["Tag.1.Key"] == "team"
    assert _round_trip(SQS, "CreateQueue", create) == create


def test_sqs_receive_message_output() -> None:
    output = {
        "Messages": [
            {
                "MessageId": "m1",
                "ReceiptHandle": "r+1/=",
                "MD5OfBody": "abc",
                "Body": "<xml> & text\r\n",
                "Attributes": {"SenderId": "000000000000", "ApproximateReceiveCount": "1"},
                "MD5OfMessageAttributes": "def",
                "MessageAttributes": {
                    "a": {"DataType": "String", "StringValue": "x"},
                    "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
                },
            },
            {"MessageId": "m2", "ReceiptHandle": "r2", "MD5OfBody": "x", "Body": "b"},
        ]
    }
    body = awsquery.encode(SQS.operation_model("ReceiveMessage"), output, "req-1", SQS_NS)
    assert b"<Message><MessageId>m1</MessageId>" in body
    assert b"<Attribute><Name>SenderId</Name><Value>000000000000</Value></Attribute>" in body
    assert _parse(SQS, "ReceiveMessage", body) == output
    urls = {"QueueUrls": ["http://x/1/a", "http://x/1/b"]}
    body = awsquery.encode(SQS.operation_model("ListQueues"), urls, "req-1", SQS_NS)
    assert b"<QueueUrl>http://x/1/a</QueueUrl><QueueUrl>" in body
    assert _parse(SQS, "ListQueues", body) == urls
    attrs = {"Attributes": {"VisibilityTimeout": "30", "QueueArn": "arn"}}
    body = awsquery.encode(SQS.operation_model("GetQueueAttributes"), attrs, "req-1", SQS_NS)
    assert _parse(SQS, "GetQueueAttributes", body) == attrs


def test_timestamps_round_trip() -> None:
    # No SNS/SQS operation takes a timestamp in the query form; use a synthetic model.
    model = ServiceModel(
        {
            "metadata": {"protocol": "query", "apiVersion": "2020-01-01", "endpointPrefix": "x"},
            "operations": {
                "Op": {
                    "name": "Op",
                    "http": {"method": "POST", "requestUri": "/"},
                    "input": {"shape": "In"},
                    "output": {"shape": "Out", "resultWrapper": "OpResult"},
                }
            },
            "shapes": {
                "In": {
                    "type": "structure",
                    "members": {"When": {"shape": "T"}, "F": {"shape": "D"}},
                },
                "Out": {"type": "structure", "members": {"When": {"shape": "T"}}},
                "T": {"type": "timestamp"},
                "D": {"type": "double"},
            },
        },
        "x",
    )
    when = dt.datetime(2026, 11, 23, 14, 0, 1, 250000, tzinfo=dt.UTC)
    assert _round_trip(model, "Op", {"When": when, "F": 1.5}) == {"When": when, "F": 1.5}
    body = awsquery.encode(model.operation_model("Op"), {"When": when}, "req-1", "urn:x")
    assert b"<When>2026-11-23T14:00:01.250Z</When>" in body
    assert _parse(model, "Op", body) == {"When": when}


def test_error_response_shape() -> None:
    status, headers, body = awsquery.error_response(
        "NotFound", "Topic does not exist", 404, "req-1", SNS_NS
    )
    assert status == 404
    assert ("Content-Type", "text/xml") in headers
    parsed = create_parser("query").parse(
        {"body": body, "headers": {}, "status_code": 404},
        SNS.operation_model("GetTopicAttributes").output_shape,
    )
    assert parsed["Error"] == {
        "Type": "Sender",
        "Code": "NotFound",
        "Message": "Topic does not exist",
    }
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_half_map_entries() -> None:
    publish = SNS.operation_model("Publish").input_shape
    decoded = awsquery.decode([("MessageAttributes.entry.1.Name", "a")], publish)
    assert decoded == {"MessageAttributes": {"a": {}}}  # validation then finds DataType missing
    create = SNS.operation_model("CreateTopic").input_shape
    assert awsquery.decode([("Attributes.entry.1.key", "DisplayName")], create) == {
        "Attributes": {}
    }
