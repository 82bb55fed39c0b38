"""S3 event notification records, byte for byte as S3 sends them (pure: no I/O).

Shapes follow AWS' "Event message structure" (notification-content-structure):
`{"Records":[{...}]}` for object events, and the `s3:TestEvent` message S3 sends to queues
and topics when a configuration is stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any, Protocol
from urllib.parse import quote_plus

import orjson

EVENT_VERSION = "2.1"


class ObjectChange(Protocol):
    """What a record is made of (services.contracts.ObjectEvent has these fields)."""

    @property
    def region(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def event_name(self) -> str: ...
    @property
    def event_time(self) -> float: ...
    @property
    def size(self) -> int | None: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def version_id(self) -> str | None: ...
    @property
    def sequencer(self) -> str: ...
    @property
    def source_ip(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def principal(self) -> str: ...


def event_time(seconds: float) -> str:
    """`1970-01-01T00:00:00.000Z`: milliseconds, UTC, a literal Z."""
    when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def encode_key(key: str) -> str:
    """The key as S3 puts it in a record: form-encoded ("red flower.jpg" -> "red+flower.jpg",
    "+" -> "%2B", ":" -> "%3A") as Java's URLEncoder does ('*' kept, '~' encoded), except
    that '/' stays as it is. Consumers decode it with `urllib.parse.unquote_plus`."""
    return quote_plus(key, safe="/*", encoding="utf-8").replace("~", "%7E")


def host_id(request_id: str) -> str:
    """A stable `x-amz-id-2` for a request (S3's is an opaque base64 token)."""
    digest = hashlib.sha256(request_id.encode()).digest() * 2
    return base64.b64encode(digest[:48]).decode()  # 64 characters, as S3's


def record(event: ObjectChange, configuration_id: str, owner: str) -> dict[str, Any]:
    """One entry of `Records`; `owner` is the bucket owner's principal id."""
    obj: dict[str, Any] = {"key": encode_key(event.key)}
    if event.event_name.startswith("ObjectCreated:"):
        obj["size"] = event.size or 0
        obj["eTag"] = event.etag or ""
    if event.version_id is not None:
        obj["versionId"] = event.version_id
    obj["sequencer"] = event.sequencer
    return {
        "eventVersion": EVENT_VERSION,
        "eventSource": "aws:s3",
        "awsRegion": event.region,
        "eventTime": event_time(event.event_time),
        "eventName": event.event_name,
        "userIdentity": {"principalId": event.principal},
        "requestParameters": {"sourceIPAddress": event.source_ip},
        "responseElements": {
            "x-amz-request-id": event.request_id,
            "x-amz-id-2": host_id(event.request_id),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": event.bucket,
                "ownerIdentity": {"principalId": owner},
                "arn": f"arn:aws:s3:::{event.bucket}",
            },
            "object": obj,
        },
    }


def message(event: ObjectChange, configuration_id: str, owner: str) -> bytes:
    """The whole notification (one record per message, as S3 sends them)."""
    return orjson.dumps({"Records": [record(event, configuration_id, owner)]})


def s3_test_event(bucket: str, when: float, request_id: str) -> bytes:
    """What S3 sends to each new queue/topic destination to check it can deliver."""
    return orjson.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": event_time(when),
            "Bucket": bucket,
            "RequestId": request_id,
            "HostId": host_id(request_id),
        }
    )
