"""Publish's checks on a message, its subject and its attributes, with AWS' errors (pure)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from nimbus.errors import ValidationError
from nimbus.protocol.sns_errors import InvalidParameter, ParameterValueInvalid

MAX_MESSAGE_BYTES = 262_144  # message + attributes (names, types, values)
_DATA_TYPE = re.compile(r"^(String|Number|Binary)(\..+)?$")
_SUBJECT = re.compile(r"^[\x20-\x7e]{1,100}$")  # printable ASCII, no line breaks


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
