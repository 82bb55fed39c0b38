"""Turning one SendMessage (or batch entry) into a queued Message: the per-message rules
(size, delay, FIFO group and deduplication) and the row the store keeps."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson

from nimbus.errors import SqsInvalidParameterValue, SqsMissingParameter
from nimbus.ids import random_uuid
from nimbus.protocol.sqs_md5 import md5_of_attributes, md5_of_body
from nimbus.services.sqs_messages import check_attributes, check_body, to_json, wire_attributes
from nimbus.services.sqs_queue import Message, Queue


@dataclass
class Prepared:
    message: Message
    duplicate: bool  # FIFO: already sent within the deduplication window
    dedup_key: tuple[str, str] | None


def body_size(entry: dict[str, Any]) -> int:
    """What counts toward the 256 KB limit: the body and every attribute part."""
    body = entry.get("MessageBody")
    size = len(body.encode()) if isinstance(body, str) else 0
    for name, value in (entry.get("MessageAttributes") or {}).items():
        if isinstance(value, dict):
            size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
            string = value.get("StringValue")
            size += len(str(string).encode()) if string is not None else 0
            binary = value.get("BinaryValue")
            size += (len(binary) * 3 // 4) if isinstance(binary, str) else len(binary or b"")
    return size


def prepare(queue: Queue, entry: dict[str, Any], sender: str, now: float) -> Prepared:
    """Validate one message for `queue`; raises the SqsError AWS would answer with."""
    body = check_body(entry.get("MessageBody"))
    attributes, attributes_size = check_attributes(entry.get("MessageAttributes"))
    limit = queue.int_attr("MaximumMessageSize")
    if len(body.encode()) + attributes_size > limit:
        raise SqsInvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} "
            "bytes."
        )
    delay = entry.get("DelaySeconds")
    group_id = entry.get("MessageGroupId")
    dedup_id = entry.get("MessageDeduplicationId")
    if queue.fifo:
        if delay is not None:
            raise SqsInvalidParameterValue(
                f"Value {delay} for parameter DelaySeconds is invalid. Reason: The request "
                "include parameter that is not valid for this queue type."
            )
        if not group_id:
            raise SqsMissingParameter("The request must contain the parameter MessageGroupId.")
        if not dedup_id:
            if queue.attributes.get("ContentBasedDeduplication") != "true":
                raise SqsInvalidParameterValue(
                    "The queue should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
            dedup_id = hashlib.sha256(body.encode()).hexdigest()
    elif dedup_id is not None:
        raise SqsInvalidParameterValue(
            f"Value {dedup_id} for parameter MessageDeduplicationId is invalid. Reason: The "
            "request include parameter that is not valid for this queue type."
        )
    if delay is None:
        delay = queue.int_attr("DelaySeconds")
    elif not isinstance(delay, int) or not 0 <= delay <= 900:
        raise SqsInvalidParameterValue(
            f"Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be "
            ">= 0 and <= 900."
        )
    system = None
    trace = (entry.get("MessageSystemAttributes") or {}).get("AWSTraceHeader")
    if isinstance(trace, dict) and trace.get("StringValue"):
        system = {"AWSTraceHeader": str(trace["StringValue"])}
    key = queue.dedup_key(str(group_id), dedup_id) if queue.fifo and dedup_id else None
    if key is not None:
        original = queue.duplicate_of(key, now)
        if original is not None:
            return Prepared(original, True, key)
    message = Message(
        random_uuid(queue.rng),
        body,
        md5_of_body(body),
        attributes,
        md5_of_attributes(attributes),
        now,
        sender,
        queue.next_seq,
        now + delay,
        group_id if queue.fifo or group_id else None,
        dedup_id,
        system=system,
    )
    queue.next_seq += 1
    if key is not None:
        queue.remember(key, message, now)  # concurrent duplicates see it at once
    return Prepared(message, False, key)


def row(queue: Queue, message: Message) -> tuple[Any, ...]:
    """The store's row (store.sqs.MESSAGE_COLUMNS order)."""
    attributes = (
        to_json(wire_attributes(message.attributes)).decode() if message.attributes else None
    )
    extra = orjson.dumps(message.system).decode() if message.system else None
    return (
        message.key, message.id, queue.qid, message.seq, message.body, attributes, message.sent,
        message.sender, message.due, message.group_id, message.dedup_id,
        message.receive_count, message.first_receive, extra,
    )  # fmt: skip


def result(queue: Queue, message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"MD5OfMessageBody": message.md5_body, "MessageId": message.id}
    if message.md5_attributes:
        out["MD5OfMessageAttributes"] = message.md5_attributes
    trace = (message.system or {}).get("AWSTraceHeader")
    if trace is not None:
        out["MD5OfMessageSystemAttributes"] = md5_of_attributes(
            {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
        )
    if queue.fifo:
        out["SequenceNumber"] = f"{message.seq:020d}"
    return out


def now() -> float:
    return time.time()
