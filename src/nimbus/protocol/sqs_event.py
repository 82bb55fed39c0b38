"""The SQS event Lambda hands a function (pure): AWS' record shape, byte for byte.

{"Records": [{"messageId", "receiptHandle", "body", "attributes": {...},
              "messageAttributes": {name: {"stringValue" | "binaryValue",
              "stringListValues": [], "binaryListValues": [], "dataType"}},
              "md5OfMessageAttributes" (only with attributes), "md5OfBody",
              "eventSource": "aws:sqs", "eventSourceARN", "awsRegion"}]}
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

import orjson

MessageAttributes = dict[str, dict[str, Any]]


class ReceivedMessage(Protocol):
    """What a record is made of (services.contracts.ReceivedMessage has these fields)."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str]
    message_attributes: MessageAttributes
    md5_of_message_attributes: str | None


# AWS' order of the system attributes in a record (FIFO ones only on FIFO queues).
_ATTRIBUTE_ORDER = (
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
)
# Bytes a record adds around its body and attributes (ids, handle, keys, ARN): a safe upper
# bound used to keep a batch's payload under Lambda's 6 MB.
RECORD_OVERHEAD = 1024


def queue_region(queue_arn: str) -> str:
    """arn:aws:sqs:<region>:<account>:<name> -> region."""
    return queue_arn.split(":")[3]


def _attributes(attributes: dict[str, str]) -> dict[str, str]:
    ordered = {k: attributes[k] for k in _ATTRIBUTE_ORDER if k in attributes}
    for key, value in attributes.items():
        ordered.setdefault(key, value)
    return ordered


def _b64(value: Any) -> str:
    if isinstance(value, str):  # already base64 (as the wire carries it)
        return value
    return base64.b64encode(bytes(value)).decode()


def message_attributes(attributes: MessageAttributes) -> dict[str, dict[str, Any]]:
    """{"DataType", "StringValue" | "BinaryValue"} -> the event's lower-camel shape."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {}
        if value.get("StringValue") is not None:
            item["stringValue"] = value["StringValue"]
        if value.get("BinaryValue") is not None:
            item["binaryValue"] = _b64(value["BinaryValue"])
        item["stringListValues"] = list(value.get("StringListValues") or [])
        item["binaryListValues"] = [_b64(v) for v in value.get("BinaryListValues") or []]
        item["dataType"] = value.get("DataType", "String")
        out[name] = item
    return out


def record(message: ReceivedMessage, queue_arn: str, region: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": _attributes(message.attributes),
        "messageAttributes": message_attributes(message.message_attributes),
    }
    if message.message_attributes and message.md5_of_message_attributes:
        out["md5OfMessageAttributes"] = message.md5_of_message_attributes
    out["md5OfBody"] = message.md5_of_body
    out["eventSource"] = "aws:sqs"
    out["eventSourceARN"] = queue_arn
    out["awsRegion"] = region
    return out


def event(records: list[dict[str, Any]]) -> bytes:
    """The invocation payload for a batch of records."""
    return orjson.dumps({"Records": records})


def size_estimate(message: ReceivedMessage) -> int:
    """About the bytes `message` adds to the payload (JSON escaping may add more: the
    caller checks the encoded payload)."""
    size = len(message.body.encode()) + RECORD_OVERHEAD
    for name, value in message.message_attributes.items():
        size += len(name) + 96
        raw = value.get("StringValue") or value.get("BinaryValue") or ""
        size += len(raw) * (2 if not isinstance(raw, str) else 1)
    return size


def filter_view(item: dict[str, Any]) -> dict[str, Any]:
    """What FilterCriteria patterns match against: the record, with a JSON body parsed
    (AWS filters `body` by its JSON fields when the body is a JSON object, else as text)."""
    body = item["body"]
    parsed: Any = body
    if body[:1] in ("{", "["):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = body
    return {**item, "body": parsed}


def failed_items(payload: bytes, message_ids: set[str]) -> set[str]:
    """The message ids a ReportBatchItemFailures response names; ValueError when the
    response means the whole batch failed (AWS: invalid JSON, an empty, null or unknown
    itemIdentifier, a bad key name). null, {} and an empty or null list: none failed."""
    if not payload.strip():
        return set()
    try:
        response = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ValueError("the function's response is not JSON") from None
    if response is None:
        return set()
    if not isinstance(response, dict):
        raise ValueError("the function's response is not an object")
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        raise ValueError("batchItemFailures is not a list")
    failed: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or "itemIdentifier" not in item:
            raise ValueError("a batch item failure has no itemIdentifier")
        identifier = item["itemIdentifier"]
        if not isinstance(identifier, str) or identifier not in message_ids:
            raise ValueError(f"unknown itemIdentifier {identifier!r}")
        failed.add(identifier)
    return failed
