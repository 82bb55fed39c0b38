"""SNS subscription filter policies: validation and matching (pure).

The policy language is EventBridge's (protocol/event_pattern.py does the matching); SNS
validates it its own way (sns_filter_rules.py): a policy applies either to the message
attributes (flat: each key names an attribute) or to the message body (a JSON object;
nested keys), at most 5 keys and 150 combinations. Attribute values are typed by their DataType: a
`Number` matches numeric conditions, a `String.Array` matches if any element does,
`Binary` attributes never match.
"""

from __future__ import annotations

from typing import Any

import orjson

from nimbus.protocol import event_pattern
from nimbus.protocol.sns_filter_rules import PolicyError, validate

__all__ = ["SCOPES", "PolicyError", "attribute_values", "matches", "parse"]

SCOPES = ("MessageAttributes", "MessageBody")


def parse(text: str, scope: str = "MessageAttributes") -> dict[str, Any]:
    """Decode and validate a FilterPolicy attribute; raises PolicyError with AWS' text."""
    try:
        policy = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise PolicyError("FilterPolicy: failed to parse JSON.") from None
    if not isinstance(policy, dict):
        raise PolicyError("FilterPolicy: failed to parse JSON.")
    if policy:  # {}: no filtering
        validate(policy, scope)
    return policy


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def attribute_values(attributes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Message attributes as the values a policy compares (typed by DataType)."""
    values: dict[str, Any] = {}
    for name, attribute in attributes.items():
        data_type = str(attribute.get("DataType", ""))
        text = attribute.get("StringValue")
        if text is None:
            continue  # Binary: never matched
        if data_type.startswith("Number"):
            number = _number(text)
            if number is not None:
                values[name] = number
        elif data_type == "String.Array":
            try:
                decoded = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            values[name] = decoded if isinstance(decoded, list) else [decoded]
        elif data_type.startswith("String"):
            values[name] = text
    return values


def matches(
    policy: dict[str, Any] | None,
    scope: str,
    message: str,
    attributes: dict[str, dict[str, Any]] | None,
) -> bool:
    """Whether a message passes a subscription's (validated) policy."""
    if not policy:
        return True
    if scope == "MessageBody":
        try:
            body = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        return isinstance(body, dict) and event_pattern.matches(policy, body)
    return event_pattern.matches(policy, attribute_values(attributes or {}))
