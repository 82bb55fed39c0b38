"""Messages in and out: validation of what is sent (body, attributes, batch entries) and
the shape of what is received, with AWS' error wording."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from nimbus.errors import (
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidMessageContents,
    SqsInvalidParameterValue,
    SqsMissingParameter,
    TooManyEntriesInBatchRequest,
)
from nimbus.services.sqs_queue import Message

_BAD_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
ALLOWED = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
SYSTEM_ATTRIBUTES = (
    "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)  # fmt: skip


def check_body(body: Any) -> str:
    if not isinstance(body, str) or body == "":
        raise SqsMissingParameter("The request must contain the parameter MessageBody.")
    bad = _BAD_CHARS.search(body)
    if bad:
        raise InvalidMessageContents(
            f"Invalid binary character '#x{ord(bad.group()):X}' was found in the message body, "
            f"the set of allowed characters is {ALLOWED}"
        )
    return body


def check_attributes(raw: Any) -> tuple[dict[str, dict[str, Any]] | None, int]:
    """Message attributes with Binary values as bytes, and their size in bytes."""
    if not raw:
        return None, 0
    if len(raw) > 10:
        raise SqsInvalidParameterValue(
            f"Number of message attributes [{len(raw)}] exceeds the allowed maximum [10]."
        )
    out: dict[str, dict[str, Any]] = {}
    size = 0
    for name, value in raw.items():
        lowered = name.lower()
        if (
            not _ATTRIBUTE_NAME.fullmatch(name)
            or lowered.startswith(("aws.", "amazon."))
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise SqsInvalidParameterValue(
                f"Message (user) attribute '{name}' has an invalid name."
            )
        if not isinstance(value, dict):
            raise SqsInvalidParameterValue(
                f"The message attribute '{name}' must contain a non-empty message attribute value."
            )
        data_type = value.get("DataType")
        if not data_type:
            raise SqsInvalidParameterValue(
                f"The message attribute '{name}' must contain a non-empty message attribute type."
            )
        kind = str(data_type).split(".", 1)[0]
        if kind not in ("String", "Number", "Binary"):
            raise SqsInvalidParameterValue(
                f"The type of message (user) attribute '{name}' is invalid. You must use only "
                "the following supported type prefixes: Binary, Number, String."
            )
        item: dict[str, Any] = {"DataType": data_type}
        if kind == "Binary":
            binary = value.get("BinaryValue")
            if binary is None or binary == "":
                raise SqsInvalidParameterValue(
                    f"The message attribute '{name}' with type 'Binary' must use field 'Binary'."
                )
            if isinstance(binary, str):
                try:
                    binary = base64.b64decode(binary, validate=True)
                except binascii.Error:
                    raise SqsInvalidParameterValue(
                        f"The message attribute '{name}' has an invalid binary value."
                    ) from None
            item["BinaryValue"] = bytes(binary)
            size += len(binary)
        else:
            string = value.get("StringValue")
            if string is None or string == "":
                raise SqsInvalidParameterValue(
                    f"The message attribute '{name}' with type '{kind}' must use field 'String'."
                )
            if kind == "Number" and not _is_number(str(string)):
                raise SqsInvalidParameterValue(
                    f"Can't cast the value of message (user) attribute '{name}' to a number."
                )
            if _BAD_CHARS.search(str(string)):
                raise InvalidMessageContents(
                    f"Invalid binary character was found in the value of message (user) "
                    f"attribute '{name}', the set of allowed characters is {ALLOWED}"
                )
            item["StringValue"] = str(string)
            size += len(str(string).encode())
        size += len(name.encode()) + len(str(data_type).encode())
        out[name] = item
    return out, size


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def check_batch_ids(entries: Any, operation: str) -> list[dict[str, Any]]:
    if not entries:
        raise EmptyBatchRequest(
            f"There should be at least one {operation}RequestEntry in the request."
        )
    if len(entries) > 10:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are 10. You have sent {len(entries)}."
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId()
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return list(entries)


def wire_attributes(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Message attributes as replies carry them (Binary stays bytes: each protocol encodes)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        if "BinaryValue" in value:
            out[name] = {"DataType": value["DataType"], "BinaryValue": value["BinaryValue"]}
        else:
            out[name] = {"DataType": value["DataType"], "StringValue": value["StringValue"]}
    return out


def to_json(value: Any) -> bytes:
    """JSON with bytes as base64 (the JSON protocol's blobs)."""
    return orjson.dumps(value, default=_blob)


def _blob(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def select_attributes(
    attributes: dict[str, dict[str, Any]] | None, names: list[str]
) -> dict[str, dict[str, Any]]:
    """MessageAttributeNames: exact names, `All`, `.*`, or prefixes like `bar.*`."""
    if not attributes or not names:
        return {}
    if "All" in names or ".*" in names:
        return attributes
    prefixes = tuple(n[:-1] for n in names if n.endswith(".*"))
    return {
        k: v for k, v in attributes.items() if k in names or (prefixes and k.startswith(prefixes))
    }


def system_attributes(message: Message, names: set[str], fifo: bool) -> dict[str, str]:
    everything = "All" in names
    values: dict[str, str | None] = {
        "SenderId": message.sender,
        "SentTimestamp": str(int(message.sent * 1000)),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(int((message.first_receive or 0) * 1000)),
    }
    if fifo:
        values["SequenceNumber"] = f"{message.seq:020d}"
        values["MessageDeduplicationId"] = message.dedup_id
        values["MessageGroupId"] = message.group_id
    if message.system:
        values.update(message.system)
    return {k: v for k, v in values.items() if v is not None and (everything or k in names)}
