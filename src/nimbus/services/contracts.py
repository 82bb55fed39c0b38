"""Interfaces between the messaging and storage services (SQS, SNS, S3, event source
mappings, destinations). Each service depends on these Protocols, never on another
service's class; only the composition root (app.py) connects the concrete ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# AWS' message-attribute shape: {"name": {"DataType": "String", "StringValue": "v"}} or
# {"DataType": "Binary", "BinaryValue": b"..."} (bytes, not base64, inside Nimbus).
MessageAttributes = dict[str, dict[str, Any]]


class QueueSink(Protocol):
    """Puts messages on an SQS queue (used by SNS, destinations, DLQs, S3 notifications)."""

    async def send_to_arn(
        self,
        account: str,
        queue_arn: str,
        body: str,
        attributes: MessageAttributes | None = None,
        *,
        group_id: str | None = None,
        dedup_id: str | None = None,
    ) -> str:
        """Durable when this returns; the new message id. Raises QueueDoesNotExist."""
        ...


@dataclass
class ReceivedMessage:
    """A message handed out by a queue, with everything the SQS event record needs."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str]  # ApproximateReceiveCount, SentTimestamp, SenderId, ...
    message_attributes: MessageAttributes = field(default_factory=dict)
    md5_of_message_attributes: str | None = None


class QueueConsumer(Protocol):
    """What an event source mapping's poller needs from a queue."""

    async def receive_batch(
        self, queue_arn: str, max_messages: int, wait_s: float = 0.0
    ) -> list[ReceivedMessage]:
        """Up to max_messages (any number, not capped at 10), hidden for the queue's
        visibility timeout; waits up to wait_s for the first one. Raises QueueDoesNotExist."""
        ...

    async def delete_batch(self, queue_arn: str, receipt_handles: list[str]) -> None: ...

    async def backlog(self, queue_arn: str) -> int:
        """Approximate number of visible messages (pollers scale with it)."""
        ...


class TopicPublisher(Protocol):
    """Publishes to an SNS topic (used by destinations and S3 notifications)."""

    async def publish_to_arn(
        self,
        account: str,
        topic_arn: str,
        message: str,
        subject: str | None = None,
        attributes: MessageAttributes | None = None,
    ) -> str:
        """Durable (or fanned out) when this returns; the message id. Raises NotFound."""
        ...


@dataclass(frozen=True)
class ObjectEvent:
    """Something happened to an object: the S3 service emits one per change, the bucket
    notification service turns it into AWS' event record."""

    account: str
    region: str
    bucket: str
    key: str  # as stored (not URL-encoded)
    event_name: str  # "ObjectCreated:Put", "ObjectRemoved:DeleteMarkerCreated", ...
    event_time: float  # epoch seconds
    size: int | None  # None for removals
    etag: str | None  # without quotes
    version_id: str | None
    sequencer: str  # hex, grows with each change to the key
    source_ip: str
    request_id: str
    principal: str  # the caller's id (account or access key owner)


class ObjectEventSink(Protocol):
    async def object_changed(self, event: ObjectEvent) -> None:
        """Called after the change is durable; must not raise (delivery is its business)."""
        ...


class ObjectReader(Protocol):
    """Reads a stored object (CreateFunction with Code.S3Bucket/S3Key, examples)."""

    async def read_object(
        self, account: str, bucket: str, key: str, version_id: str | None = None
    ) -> bytes:
        """The whole object (callers bound the size). Raises NoSuchBucket / NoSuchKey."""
        ...
