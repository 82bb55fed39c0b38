"""The SQS event record Lambda hands a function, against AWS' documented shape."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from nimbus.protocol import sqs_event

ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue"


@dataclass
class Message:
    message_id: str = "059f36b4-87a3-44ab-83d2-661975830a7d"
    receipt_handle: str = "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a"
    body: str = "Test message."
    md5_of_body: str = "e4e68fb7bd0e697a0ae8f1bb342846b3"
    attributes: dict[str, str] = field(
        default_factory=lambda: {
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
        }
    )
    message_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    md5_of_message_attributes: str | None = None


def test_standard_record_is_aws_shape_in_aws_order() -> None:
    record = sqs_event.record(Message(), ARN, "us-east-2")
    assert record == {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": "Test message.",
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": ARN,
        "awsRegion": "us-east-2",
    }
    assert list(record["attributes"]) == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ]
    assert orjson.loads(sqs_event.event([record])) == {"Records": [record]}


def test_message_attributes_string_and_binary() -> None:
    message = Message(
        message_attributes={
            "myAttribute": {"DataType": "String", "StringValue": "myValue"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            "n": {"DataType": "Number.int", "StringValue": "5"},
        },
        md5_of_message_attributes="a" * 32,
    )
    record = sqs_event.record(message, ARN, "us-east-2")
    assert record["messageAttributes"] == {
        "myAttribute": {
            "stringValue": "myValue",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\x01").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
        "n": {
            "stringValue": "5",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number.int",
        },
    }
    assert record["md5OfMessageAttributes"] == "a" * 32
    assert "md5OfMessageAttributes" not in sqs_event.record(Message(), ARN, "us-east-2")


def test_fifo_attributes_in_aws_order() -> None:
    message = Message(
        attributes={
            "MessageDeduplicationId": "d1",
            "MessageGroupId": "g1",
            "SequenceNumber": "18849496460467696128",
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1",
            "SenderId": "S",
            "ApproximateFirstReceiveTimestamp": "2",
        }
    )
    attributes = sqs_event.record(message, ARN + ".fifo", "us-east-2")["attributes"]
    assert list(attributes) == [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SequenceNumber",
        "MessageGroupId",
        "SenderId",
        "MessageDeduplicationId",
        "ApproximateFirstReceiveTimestamp",
    ]


IDS = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("payload", "failed"),
    [
        (b"", set()),
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": null}', set()),
        (b'{"statusCode": 200}', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
        (b'{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}', {"a", "c"}),
    ],
)
def test_batch_item_failures(payload: bytes, failed: set[str]) -> None:
    assert sqs_event.failed_items(payload, IDS) == failed


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'"ok"',
        b'{"batchItemFailures": [{"itemIdentifier": ""}]}',
        b'{"batchItemFailures": [{"itemIdentifier": null}]}',
        b'{"batchItemFailures": [{"itemIdentifer": "a"}]}',
        b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}',
        b'{"batchItemFailures": "a"}',
    ],
)
def test_unreadable_batch_item_failures_fail_the_batch(payload: bytes) -> None:
    with pytest.raises(ValueError):
        sqs_event.failed_items(payload, IDS)


def test_filter_view_parses_json_bodies_only() -> None:
    record = sqs_event.record(Message(body='{"kind": "order", "n": 3}'), ARN, "r")
    assert sqs_event.filter_view(record)["body"] == {"kind": "order", "n": 3}
    assert record["body"] == '{"kind": "order", "n": 3}'  # the record itself is unchanged
    plain = sqs_event.record(Message(body="{not json"), ARN, "r")
    assert sqs_event.filter_view(plain)["body"] == "{not json"


def test_queue_region() -> None:
    assert sqs_event.queue_region(ARN) == "us-east-2"
