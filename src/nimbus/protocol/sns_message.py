"""SNS messages as AWS delivers them (pure): the notification and subscription-confirmation
documents (HTTP/SQS JSON, and the Lambda event record) and the string their signature
covers. Publish's checks are in sns_checks.py.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

# What each document's signature covers, in this order (AWS' canonical form).
NOTIFICATION_SIGNED = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_SIGNED = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


@dataclass
class Notification:
    """One published message, as every subscriber's document is built from it."""

    message_id: str
    topic_arn: str
    message: str
    timestamp: str  # ISO 8601, ms, 'Z'
    subject: str | None = None
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    structure: dict[str, str] | None = None  # MessageStructure=json: per-protocol bodies
    # (message text, version) -> signature: subscribers of one protocol share one signing
    signatures: dict[tuple[str, str], str] = field(default_factory=dict)

    def message_for(self, protocol: str) -> str:
        if self.structure is None:
            return self.message
        return self.structure.get(protocol, self.structure["default"])


def canonical_string(document: dict[str, Any]) -> bytes:
    """The text an SNS signature covers: name\\nvalue\\n for each signed field present."""
    names = NOTIFICATION_SIGNED if document["Type"] == "Notification" else CONFIRMATION_SIGNED
    parts = []
    for name in names:
        value = document.get(name)
        if value is not None:
            parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def attributes_json(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """{name: {"Type", "Value"}} as notifications carry them (binary values in base64)."""
    out: dict[str, dict[str, str]] = {}
    for name, attribute in attributes.items():
        binary = attribute.get("BinaryValue")
        value = (
            base64.b64encode(binary).decode()
            if binary is not None
            else str(attribute.get("StringValue", ""))
        )
        out[name] = {"Type": str(attribute["DataType"]), "Value": value}
    return out


def notification_document(
    note: Notification, protocol: str, unsubscribe_url: str, cert_url: str, version: str
) -> dict[str, Any]:
    """The fields of a Notification (HTTP/SQS casing), without the signature yet."""
    document: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": note.message_id,
        "TopicArn": note.topic_arn,
    }
    if note.subject is not None:
        document["Subject"] = note.subject
    document["Message"] = note.message_for(protocol)
    document["Timestamp"] = note.timestamp
    document["SignatureVersion"] = version
    document["Signature"] = ""
    document["SigningCertURL"] = cert_url
    document["UnsubscribeURL"] = unsubscribe_url
    if note.attributes:
        document["MessageAttributes"] = attributes_json(note.attributes)
    return document


def confirmation_document(
    message_id: str,
    token: str,
    topic_arn: str,
    subscribe_url: str,
    timestamp: str,
    cert_url: str,
    version: str,
    unsubscribed: str | None = None,
) -> dict[str, Any]:
    """A SubscriptionConfirmation, or (`unsubscribed`: the subscription's ARN) the
    UnsubscribeConfirmation whose SubscribeURL restores the subscription."""
    if unsubscribed is None:
        kind = "SubscriptionConfirmation"
        message = (
            f"You have chosen to subscribe to the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        )
    else:
        kind = "UnsubscribeConfirmation"
        message = (
            f"You have chosen to deactivate subscription {unsubscribed}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL "
            "included in this message."
        )
    return {
        "Type": kind,
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic_arn,
        "Message": message,
        "SubscribeURL": subscribe_url,
        "Timestamp": timestamp,
        "SignatureVersion": version,
        "Signature": "",
        "SigningCertURL": cert_url,
    }


def render(document: dict[str, Any]) -> str:
    """AWS' layout of the JSON it posts to HTTP endpoints and queues:
    `{\\n  "Type" : "Notification",\\n ...}`, message attributes one per line."""
    lines = []
    for key, value in document.items():
        if key == "MessageAttributes":
            inner = ",\n".join(f"    {_dump(name)} : {_dump(item)}" for name, item in value.items())
            lines.append(f'  "MessageAttributes" : {{\n{inner}\n  }}')
        else:
            lines.append(f"  {_dump(key)} : {_dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def lambda_event(document: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event a subscribed function receives, from a signed Notification document."""
    sns = {
        "Type": document["Type"],
        "MessageId": document["MessageId"],
        "TopicArn": document["TopicArn"],
        "Subject": document.get("Subject"),
        "Message": document["Message"],
        "Timestamp": document["Timestamp"],
        "SignatureVersion": document["SignatureVersion"],
        "Signature": document["Signature"],
        "SigningCertUrl": document["SigningCertURL"],
        "UnsubscribeUrl": document["UnsubscribeURL"],
        "MessageAttributes": document.get("MessageAttributes", {}),
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": sns,
            }
        ]
    }
