"""SNS subscription filter policies: validation and matching (pure).

The policy language is EventBridge's (protocol/event_pattern.py does the matching), with
SNS' own rules on top: a policy applies either to the message attributes (flat: each key
names an attribute) or to the message body (a JSON object; nested keys), at most 5 keys
and 150 combinations, no `wildcard`. Attribute values are typed by their DataType: a
`Number` matches numeric conditions, a `String.Array` matches if any element does,
`Binary` attributes never match.
"""

from __future__ import annotations

from typing import Any

import orjson

from nimbus.errors import InvalidEventPattern
from nimbus.protocol import event_pattern
from nimbus.protocol.sns_errors import InvalidParameter

MAX_KEYS = 5
MAX_COMBINATIONS = 150
SCOPES = ("MessageAttributes", "MessageBody")


def _invalid(reason: str) -> InvalidParameter:
    return InvalidParameter(f"FilterPolicy: {reason}")


def parse(text: str, scope: str = "MessageAttributes") -> dict[str, Any]:
    """Decode and validate a FilterPolicy attribute; raises InvalidParameter as AWS does."""
    try:
        policy = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise _invalid(f"failed to parse JSON. {e}") from None
    if not isinstance(policy, dict):
        raise _invalid("Filter policy must be a JSON object")
    if not policy:
        return policy  # {}: no filtering
    if scope == "MessageAttributes":
        for key, value in policy.items():
            if key != "$or" and isinstance(value, dict):
                raise _invalid(
                    "Filter policy scope MessageAttributes does not support nested filter policy"
                )
    _reject_wildcards(policy)
    try:
        event_pattern.validate(policy)
    except InvalidEventPattern as e:
        raise _invalid(e.message.removeprefix("Event pattern is not valid. Reason: ")) from None
    if _keys(policy) > MAX_KEYS:
        raise _invalid(f"Filter policy can not have more than {MAX_KEYS} keys")
    if _combinations(policy) > MAX_COMBINATIONS:
        raise _invalid("Filter policy is too complex")
    return policy


def _reject_wildcards(policy: Any) -> None:
    if isinstance(policy, dict):
        for key, value in policy.items():
            if key == "wildcard":
                raise _invalid("Unrecognized match type wildcard")
            _reject_wildcards(value)
    elif isinstance(policy, list):
        for item in policy:
            _reject_wildcards(item)


def _keys(policy: dict[str, Any]) -> int:
    """Distinct leaf keys (a key named in several `$or` branches counts once per branch,
    as AWS counts the longest branch)."""
    count = 0
    for key, value in policy.items():
        if key == "$or":
            count += max(_keys(sub) for sub in value)
        elif isinstance(value, dict):
            count += _keys(value)
        else:
            count += 1
    return count


def _combinations(policy: dict[str, Any]) -> int:
    total = 1
    for key, value in policy.items():
        if key == "$or":
            total *= sum(_combinations(sub) for sub in value)
        elif isinstance(value, dict):
            total *= _combinations(value)
        else:
            total *= len(value)
    return total


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
