"""SNS messages as AWS delivers them (pure): the notification and subscription-confirmation
documents (HTTP/SQS JSON, and the Lambda event record), the string their signature covers,
and the checks Publish applies to a message and its attributes.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from nimbus.errors import ValidationError
from nimbus.protocol.sns_errors import InvalidParameter, ParameterValueInvalid

MAX_MESSAGE_BYTES = 262_144  # message + attributes (names, types, values)
_DATA_TYPE = re.compile(r"^(String|Number|Binary)(\..+)?$")
_SUBJECT = re.compile(r"^[\x20-\x7e]{1,100}$")  # printable ASCII, no line breaks

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


# --- Publish's checks -------------------------------------------------------------------


def check_subject(subject: str | None) -> None:
    if subject is not None and not _SUBJECT.match(subject):
        raise InvalidParameter("Subject")


def check_attributes(attributes: dict[str, dict[str, Any]]) -> int:
    """Validates message attributes as SNS does (ParameterValueInvalid, AWS' words);
    returns their size in bytes (names, types and values count toward the 256 KB)."""
    size = 0
    for name, attribute in attributes.items():
        _check_attribute_name(name)
        data_type = attribute.get("DataType")
        if data_type is None:
            raise ValidationError(
                "1 validation error detected: Value null at "
                f"'messageAttributes.{name}.member.dataType' failed to satisfy constraint: "
                "Member must not be null"
            )
        if not _DATA_TYPE.match(data_type):
            raise ParameterValueInvalid(
                f"The message attribute '{name}' has an invalid message attribute type, "
                "the set of supported type prefixes is Binary, Number, and String."
            )
        empty = ParameterValueInvalid(
            f"The message attribute '{name}' must contain non-empty message attribute value "
            f"for message attribute type '{data_type}'."
        )
        if attribute.get("StringValue") is None and attribute.get("BinaryValue") is None:
            raise empty
        field = "Binary" if data_type.startswith("Binary") else "String"
        value = attribute.get(f"{field}Value")
        if value is None:
            raise ParameterValueInvalid(
                f"The message attribute '{name}' with type '{data_type}' must use field '{field}'."
            )
        if not value:
            raise empty
        if field == "String":
            if data_type.startswith("Number"):
                _check_number(name, value)
            elif data_type == "String.Array":
                _check_array(name, value)
            size += len(value.encode())
        else:
            size += len(value)
        size += len(name.encode()) + len(data_type.encode())
    return size


def _check_attribute_name(name: str) -> None:
    if len(name.encode()) > 256:
        raise ParameterValueInvalid("Length of message attribute name must be less than 256 bytes.")
    if name.startswith("."):
        raise ParameterValueInvalid(
            "Invalid message attribute name starting with character '.' was found."
        )
    if name.endswith("."):
        raise ParameterValueInvalid(
            "Invalid message attribute name ending with character '.' was found."
        )
    for char in name:
        if not (char.isascii() and (char.isalnum() or char in "-_.")):
            raise ParameterValueInvalid(
                f"Invalid non-alphanumeric character '#x{ord(char):X}' was found in the message "
                "attribute name. Can only include alphanumeric characters, hyphens, "
                "underscores, or dots."
            )
    if ".." in name:
        raise ParameterValueInvalid("Message attribute name can not have successive '.' character.")
    if name.lower().startswith(("aws.", "amazon.")):
        raise ParameterValueInvalid(
            f"The message attribute name '{name}' is reserved: names can't start with 'AWS.' "
            "or 'Amazon.'."
        )


def _check_number(name: str, text: str) -> None:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or abs(value) > 1e9 or len(text.partition(".")[2]) > 5:
        raise ParameterValueInvalid(
            f"Could not cast message attribute '{name}' value to number."
            if value != value
            else f"Value {text} for message attribute '{name}' is outside the supported range."
        )


def _check_array(name: str, text: str) -> None:
    try:
        decoded = orjson.loads(text)
    except orjson.JSONDecodeError:
        decoded = None
    if not isinstance(decoded, list) or any(isinstance(v, dict | list) for v in decoded):
        raise ParameterValueInvalid(
            f"The message attribute '{name}' with type 'String.Array' has an invalid value: "
            "the value must be a JSON array of strings, numbers, true, false or null."
        )


def check_message(
    message: str | None, structure: str | None, extra_bytes: int
) -> dict[str, str] | None:
    """Empty / too long / MessageStructure checks; the per-protocol bodies for `json`."""
    if message is None or message == "":
        raise InvalidParameter("Empty message")
    if len(message.encode()) + extra_bytes > MAX_MESSAGE_BYTES:
        raise InvalidParameter("Message too long")
    if structure is None:
        return None
    if structure != "json":
        raise InvalidParameter("MessageStructure")
    try:
        decoded = orjson.loads(message)
    except orjson.JSONDecodeError:
        raise InvalidParameter("Message Structure - JSON message body failed to parse") from None
    if not isinstance(decoded, dict):
        raise InvalidParameter("Message Structure - JSON message body failed to parse")
    # Only string values count: a protocol key with another value is ignored (as AWS).
    bodies = {k: v for k, v in decoded.items() if isinstance(v, str)}
    if "default" not in bodies:
        raise InvalidParameter("Message Structure - No default entry in JSON message body")
    return bodies
