"""PutBucketNotificationConfiguration / GetBucketNotificationConfiguration (`?notification`):
the XML codec and the two S3 handlers, registered in the S3 API's handler table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Protocol

from nimbus.api.edge import BodyTooLarge, StreamingResponse
from nimbus.api.s3 import XML, S3Api, S3Request
from nimbus.errors import MalformedXML, S3AccessDenied, S3NotImplemented
from nimbus.protocol import s3xml
from nimbus.services.s3_notification import BucketNotifications

# XML element names (botocore's locationName) of each kind: list entry, ARN.
_ELEMENTS = (
    ("TopicConfigurations", "TopicConfiguration", "TopicArn", "Topic"),
    ("QueueConfigurations", "QueueConfiguration", "QueueArn", "Queue"),
    ("LambdaFunctionConfigurations", "CloudFunctionConfiguration", "LambdaFunctionArn",
     "CloudFunction"),
)  # fmt: skip


class BucketLookup(Protocol):
    """S3Service.bucket: NoSuchBucket / AccessDenied; the bucket (with `account_id`)."""

    async def bucket(self, account: str, name: str) -> Any: ...


def parse_configuration(body: bytes) -> dict[str, Any]:
    """NotificationConfiguration XML -> botocore's shape (validation is the service's)."""
    root = s3xml.parse(body)
    if root.tag != "NotificationConfiguration":
        raise MalformedXML()
    if root.find("EventBridgeConfiguration") is not None:
        raise S3NotImplemented("Nimbus does not send S3 events to EventBridge (yet).")
    config: dict[str, Any] = {}
    for member, element, arn_member, arn_element in _ELEMENTS:
        entries = [_entry(node, arn_member, arn_element) for node in root.findall(element)]
        if entries:
            config[member] = entries
    return config


def _entry(node: ET.Element, arn_member: str, arn_element: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if (found := s3xml.child_text(node, "Id")) is not None:
        entry["Id"] = found
    if (arn := s3xml.child_text(node, arn_element)) is not None:
        entry[arn_member] = arn.strip()
    entry["Events"] = [(event.text or "").strip() for event in node.findall("Event")]
    rules = []
    for rule in node.findall("Filter/S3Key/FilterRule"):
        name, value = s3xml.child_text(rule, "Name"), s3xml.child_text(rule, "Value")
        rules.append({"Name": name, "Value": value})
    if node.find("Filter") is not None:
        entry["Filter"] = {"Key": {"FilterRules": rules}}
    return entry


def render_configuration(config: dict[str, Any]) -> bytes:
    parts: list[str] = []
    for member, element, arn_member, arn_element in _ELEMENTS:
        for entry in config.get(member, []):
            inner = [s3xml.el("Id", entry["Id"]), s3xml.el(arn_element, entry[arn_member])]
            inner += [s3xml.el("Event", event) for event in entry["Events"]]
            rules = (entry.get("Filter") or {}).get("Key", {}).get("FilterRules") or []
            if rules:
                filter_rules = "".join(
                    f"<FilterRule>{s3xml.el('Name', r['Name'])}{s3xml.el('Value', r['Value'])}"
                    "</FilterRule>"
                    for r in rules
                )
                inner.append(f"<Filter><S3Key>{filter_rules}</S3Key></Filter>")
            parts.append(f"<{element}>{''.join(inner)}</{element}>")
    return s3xml.document("NotificationConfiguration", parts)


def register(api: S3Api, buckets: BucketLookup, notifications: BucketNotifications) -> None:
    async def checked_bucket(request: S3Request) -> str:
        assert request.bucket is not None
        bucket = await buckets.bucket(request.account, request.bucket)
        expected = request.header("x-amz-expected-bucket-owner")
        if expected is not None and expected != bucket.account_id:
            raise S3AccessDenied()
        return request.bucket

    def headers(request: S3Request) -> list[tuple[str, str]]:
        return [("x-amz-request-id", request.request_id), ("x-amz-id-2", request.request_id)]

    async def put(request: S3Request) -> StreamingResponse:
        bucket = await checked_bucket(request)
        try:
            body = await request.body.read(s3xml.MAX_XML)
        except BodyTooLarge:
            raise MalformedXML() from None
        skip = (request.header("x-amz-skip-destination-validation") or "").lower() == "true"
        await notifications.put_configuration(
            request.account, bucket, parse_configuration(body), request.request_id, skip
        )
        return 200, headers(request), b""

    async def get(request: S3Request) -> StreamingResponse:
        bucket = await checked_bucket(request)
        config = await notifications.get_configuration(request.account, bucket)
        return 200, [*headers(request), ("Content-Type", XML)], render_configuration(config)

    api.register("PutBucketNotificationConfiguration", put)
    api.register("GetBucketNotificationConfiguration", get)
