"""EventBridge event patterns: validation and matching (pure).

A pattern is a JSON object whose leaves are arrays of matchers (OR within an array, AND
across fields): literal strings/numbers/booleans/null, and the content filters
`prefix`, `suffix`, `equals-ignore-case`, `wildcard`, `anything-but` (values, `prefix`,
`suffix`), `numeric`, `exists`, `cidr`. Nested objects match nested fields; `$or` takes
a list of sub-patterns. An event field that is an array matches if any element does.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import orjson

from nimbus.errors import InvalidEventPattern

_NUMERIC_OPS = {"<", "<=", "=", ">", ">="}
_MISSING = object()


def _invalid(reason: str) -> InvalidEventPattern:
    return InvalidEventPattern(f"Event pattern is not valid. Reason: {reason}")


def parse(text: str) -> dict[str, Any]:
    """Decode and validate a pattern given as a JSON string."""
    try:
        pattern = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise _invalid(f"Filter is not valid JSON: {e}") from None
    validate(pattern)
    assert isinstance(pattern, dict)
    return pattern


def validate(pattern: Any) -> None:
    if not isinstance(pattern, dict):
        raise _invalid("Filter is not an object")
    if not pattern:
        raise _invalid("Empty objects are not allowed")
    _validate_object(pattern)


def _validate_object(pattern: dict[str, Any]) -> None:
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise _invalid("Or relationship must contain at least 2 sub-patterns")
            for sub in value:
                validate(sub)
        elif isinstance(value, dict):
            if not value:
                raise _invalid("Empty objects are not allowed")
            _validate_object(value)
        elif isinstance(value, list):
            if not value:
                raise _invalid(f'Empty arrays are not allowed at "{key}"')
            for matcher in value:
                _validate_matcher(key, matcher)
        else:
            raise _invalid(f'"{key}" must be an object or an array')


def _validate_matcher(key: str, matcher: Any) -> None:
    if matcher is None or isinstance(matcher, str | int | float | bool):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise _invalid(f'Match value must be String, number, true, false, or null at "{key}"')
    ((kind, arg),) = matcher.items()
    if kind in ("prefix", "suffix"):
        if isinstance(arg, dict) and list(arg) == ["equals-ignore-case"]:
            arg = arg["equals-ignore-case"]
        if not isinstance(arg, str):
            raise _invalid(f"{kind} match pattern must be a string, not {_kind(arg)}")
    elif kind in ("equals-ignore-case", "wildcard"):
        if not isinstance(arg, str):
            raise _invalid(f"{kind} match pattern must be a string, not {_kind(arg)}")
    elif kind == "exists":
        if not isinstance(arg, bool):
            raise _invalid("exists match pattern must be either true or false.")
    elif kind == "numeric":
        _validate_numeric(arg)
    elif kind == "anything-but":
        _validate_anything_but(arg)
    elif kind == "cidr":
        try:
            ipaddress.ip_network(arg, strict=False)
        except (TypeError, ValueError):
            raise _invalid(f"Nonstandard IP address: {arg}") from None
    else:
        raise _invalid(f"Unrecognized match type {kind}")


def _kind(value: Any) -> str:
    return "an object" if isinstance(value, dict) else type(value).__name__


def _validate_numeric(arg: Any) -> None:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise _invalid("Value of numeric must be an array.")
    for i in range(0, len(arg), 2):
        op, value = arg[i], arg[i + 1]
        if op not in _NUMERIC_OPS:
            raise _invalid(f"Unrecognized numeric range operator: {op}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(f"Value of {op} must be numeric")
    if len(arg) == 4 and ("=" in (arg[0], arg[2]) or arg[0][0] == arg[2][0]):
        raise _invalid("Bad numeric range operator")


def _validate_anything_but(arg: Any) -> None:
    if isinstance(arg, dict):
        if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix", "equals-ignore-case"):
            raise _invalid("Unsupported anything-but pattern")
        inner = next(iter(arg.values()))
        if not isinstance(inner, str):
            raise _invalid("anything-but prefix or suffix must be a string")
    elif isinstance(arg, list):
        if not arg or any(not isinstance(v, str | int | float) for v in arg):
            raise _invalid("Inside anything but list, start|null|boolean is not supported.")
    elif not isinstance(arg, str | int | float) or isinstance(arg, bool):
        raise _invalid("Inside anything but list, start|null|boolean is not supported.")


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether `event` (the full envelope, decoded) matches `pattern` (validated)."""
    if not isinstance(event, dict):
        return False
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(sub, event) for sub in expected):
                return False
            continue
        value = event.get(key, _MISSING)
        if isinstance(expected, dict):
            candidates = value if isinstance(value, list) else [value]
            if not any(matches(expected, c) for c in candidates):
                return False
        elif not _leaf(expected, value):
            return False
    return True


def _leaf(matchers: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            present = value is not _MISSING and not isinstance(value, dict) and value != []
            if present == matcher["exists"]:
                return True
        elif value is not _MISSING and any(_one(matcher, v) for v in values):
            return True
    return False


def _equal(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, bool) or isinstance(value, bool):
        return matcher is value
    if isinstance(matcher, int | float) and isinstance(value, int | float):
        return float(matcher) == float(value)
    return type(matcher) is type(value) and bool(matcher == value)


def _one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return _equal(matcher, value)
    ((kind, arg),) = matcher.items()
    if kind == "numeric":
        return _numeric(arg, value)
    if kind == "anything-but":
        if isinstance(arg, dict):
            return isinstance(value, str) and not _one(arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_equal(x, value) for x in excluded)
    if kind == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except (TypeError, ValueError):
            return False
    if not isinstance(value, str):
        return False
    text: str = value
    needle: str = arg["equals-ignore-case"] if isinstance(arg, dict) else arg
    if isinstance(arg, dict):  # {"prefix": {"equals-ignore-case": "..."}}
        text, needle = text.lower(), needle.lower()
    if kind == "prefix":
        return text.startswith(needle)
    if kind == "suffix":
        return text.endswith(needle)
    if kind == "equals-ignore-case":
        return text.lower() == needle.lower()
    if kind == "wildcard":
        regex = ".*".join(re.escape(part) for part in needle.split("*"))
        return re.fullmatch(regex, text, re.DOTALL) is not None
    return False


def _numeric(arg: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    for i in range(0, len(arg), 2):
        op, bound = arg[i], float(arg[i + 1])
        ok = {
            "<": value < bound,
            "<=": value <= bound,
            "=": value == bound,
            ">": value > bound,
            ">=": value >= bound,
        }[op]
        if not ok:
            return False
    return True
