"""Validation of SNS filter policies with AWS' own messages (pure).

SNS checks policies more strictly than EventBridge and words the failures differently
("FilterPolicy: Value of < must be numeric"), so it has its own validator; matching is
shared with EventBridge (event_pattern.matches). Each failure is a PolicyError whose
text follows "Invalid parameter: " (SetSubscriptionAttributes) or "Invalid parameter:
Attributes Reason: " (Subscribe); the caller adds the prefix.
"""

from __future__ import annotations

import ipaddress
from typing import Any

MAX_KEYS = 5
MAX_COMBINATIONS = 150
_NUMERIC = ("<", "<=", "=", ">", ">=")


class PolicyError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _fail(reason: str) -> PolicyError:
    return PolicyError(f"FilterPolicy: {reason}")


def validate(policy: dict[str, Any], scope: str) -> None:
    """Raises PolicyError for the first rule AWS would reject."""
    if len(policy) > MAX_KEYS:  # nested policies: only the top-level keys count
        raise _fail(f"Filter policy can not have more than {MAX_KEYS} keys")
    rules, combinations = _walk(policy, scope, depth=1, combinations=1)
    if combinations > MAX_COMBINATIONS:
        raise _fail("Filter policy is too complex")
    for values in rules:
        for rule in values:
            _rule(rule)


def _walk(
    policy: dict[str, Any], scope: str, depth: int, combinations: int
) -> tuple[list[list[Any]], int]:
    """The lists of rules, and AWS' combination count: the product over keys of
    (number of values x nesting depth), `$or` branches summed."""
    rules: list[list[Any]] = []
    for key, value in policy.items():
        if isinstance(value, dict):
            nested, combinations = _walk(value, scope, depth + 1, combinations)
            rules += nested
        elif isinstance(value, list):
            if not value:
                raise _fail("Empty arrays are not allowed")
            if key == "$or":
                total = 0
                for branch in value:
                    if not isinstance(branch, dict):
                        raise _fail('"$or" must be an object or an array')
                    nested, count = _walk(branch, scope, depth, combinations)
                    rules += nested
                    total += count
                combinations = total
            else:
                rules.append(value)
                combinations *= len(value) * depth
        else:
            raise _fail(f'"{key}" must be an object or an array')
    if scope == "MessageAttributes" and depth > 1:
        raise PolicyError(
            "Filter policy scope MessageAttributes does not support nested filter policy"
        )
    return rules, combinations


def _rule(rule: Any) -> None:
    if rule is None or isinstance(rule, str | bool | int | float):
        return
    if not isinstance(rule, dict):
        raise _fail("Match value must be String, number, true, false, or null")
    if len(rule) != 1:
        raise _fail("Only one key allowed in match expression")
    ((operator, value),) = rule.items()
    if operator in ("equals-ignore-case", "prefix", "suffix"):
        if not isinstance(value, str):
            raise _fail(f"{operator} match pattern must be a string")
    elif operator == "anything-but":
        if isinstance(value, list):
            for item in value:
                _rule(item)
            return
        if isinstance(value, dict):
            for inner in value:
                if inner != "prefix":
                    raise _fail(f"Unsupported anything-but pattern: {inner}")
        _rule(value)
    elif operator == "exists":
        if not isinstance(value, bool):
            raise _fail("exists match pattern must be either true or false.")
    elif operator == "numeric":
        _numeric(value)
    elif operator == "cidr":
        _cidr(value)
    else:
        raise _fail(f"Unrecognized match type {operator}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(terms: Any) -> None:
    if not isinstance(terms, list) or not terms:
        raise _fail("Invalid member in numeric match: ]")
    rest = list(terms)
    operator = rest.pop(0)
    if not isinstance(operator, str):
        raise _fail(f"Invalid member in numeric match: {operator}")
    if operator not in _NUMERIC:
        raise _fail(f"Unrecognized numeric range operator: {operator}")
    low = rest.pop(0) if rest else None
    if not _is_number(low):
        raise _fail(f"Value of {'equals' if operator == '=' else operator} must be numeric")
    if not rest:
        return
    if operator not in (">", ">="):
        raise _fail("Too many elements in numeric expression")
    upper = rest.pop(0)
    if not isinstance(upper, str):
        raise _fail(f"Bad value in numeric range: {upper}")
    if upper not in ("<", "<="):
        raise _fail(f"Bad numeric range operator: {upper}")
    high = rest.pop(0) if rest else None
    if not _is_number(high):
        raise _fail(f"Value of {upper} must be numeric")
    if isinstance(low, int | float) and isinstance(high, int | float) and high <= low:
        raise _fail("Bottom must be less than top")
    if rest:
        raise _fail("Too many terms in numeric range expression")


def _cidr(value: Any) -> None:
    if not isinstance(value, str):
        raise _fail("prefix match pattern must be a string")  # AWS' wording for cidr too
    parts = value.split("/")
    if len(parts) != 2:
        raise _fail("Malformed CIDR, one '/' required")
    if not parts[1].isdigit():
        raise _fail("Malformed CIDR, mask bits must be an integer")
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _fail(f"Nonstandard IP address: {parts[0]}") from None
