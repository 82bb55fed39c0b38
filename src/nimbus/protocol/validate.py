"""Validate decoded request parameters against a botocore shape, as AWS' front end does.

botocore checks little on the client (required, types, min); max lengths, ranges,
patterns and enums reach the server, which answers with AWS' wording:
  "1 validation error detected: Value '1000' at 'timeout' failed to satisfy constraint:
   Member must have value less than or equal to 900"
"""

from __future__ import annotations

import functools
import re
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

# Java regex classes botocore's patterns use that Python's `re` lacks.
_JAVA_CLASSES = {r"\p{L}": r"\w", r"\p{N}": r"\w", r"\p{Z}": r"\s"}


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    for java, python in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    return re.compile(pattern, re.DOTALL)


def _camel(name: str) -> str:
    """AWS names members in messages with a lower-case first letter (`functionName`)."""
    return name[:1].lower() + name[1:]


def _show(value: Any) -> str:
    """A value as AWS' (Java) front end prints it: `true`, `[a, b]`, `{k=v}`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_show(k)}={_show(v)}" for k, v in value.items()) + "}"
    return str(value)


@functools.lru_cache(maxsize=4096)
def _members(shape: StructureShape) -> tuple[tuple[str, Shape, str, bool], ...]:
    """(name, shape, name as AWS prints it, required) of each member: worked out once per
    shape, not on every request."""
    required = set(shape.required_members)
    return tuple(
        (name, member, _camel(name), name in required) for name, member in shape.members.items()
    )


def validation_errors(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every constraint `value` breaks, in AWS' phrasing (empty when valid)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict) and _valid(shape, value):
        return []
    errors: list[str] = []
    _check(shape, value, path, errors)
    return errors


def _valid(shape: StructureShape, value: dict[str, Any]) -> bool:
    """The common case, quickly: a request's few present members are all valid and no
    required one is missing. Anything else takes the full walk (AWS' messages, in order)."""
    members = shape.members  # botocore caches members and required_members per shape
    for name, item in value.items():
        found = members.get(name)
        if found is not None and item is not None:
            errors: list[str] = []
            _check(found, item, "", errors)
            if errors:
                return False
    return all(value.get(name) is not None for name in shape.required_members)


def _fail(errors: list[str], shape: Shape, value: Any, path: str, constraint: str) -> None:
    # AWS writes a missing value as `null`, and never echoes sensitive ones (variables).
    if value is None:
        shown = "Value null"
    elif shape.metadata.get("sensitive"):
        shown = "Value"
    else:
        shown = f"Value '{_show(value)}'"
    errors.append(f"{shown} at '{path}' failed to satisfy constraint: {constraint}")


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if value is None:
        return
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            _fail(errors, shape, value, path, "Member must be a structure")
            return
        for name, member, camel, required in _members(shape):
            item = value.get(name)
            if item is None and not required:
                continue
            child = f"{path}.{camel}" if path else camel
            if item is None:
                _fail(errors, member, None, child, "Member must not be null")
            else:
                _check(member, item, child, errors)
        return
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            _fail(errors, shape, value, path, "Member must be a list")
            return
        for constraint in _length(shape.metadata, len(value)):
            _fail(errors, shape, value, path, f"Member must {constraint}")
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}.{i + 1}.member", errors)
        return
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            _fail(errors, shape, value, path, "Member must be a map")
            return
        for constraint in _length(shape.metadata, len(value)):
            _fail(errors, shape, value, path, f"Member must {constraint}")
        # One failure for all the keys: "Map keys must satisfy constraint: [Member must ...]".
        keys: list[str] = []
        for key in value:
            for constraint in _scalar(shape.key, key):
                if f"Member must {constraint}" not in keys:
                    keys.append(f"Member must {constraint}")
        if keys:
            _fail(
                errors,
                shape,
                value,
                path,
                f"Map keys must satisfy constraint: [{', '.join(keys)}]",
            )
        for key, item in value.items():
            _check(shape.value, item, f"{path}.{key}.member", errors)
        return
    for constraint in _scalar(shape, value):
        _fail(errors, shape, value, path, f"Member must {constraint}")


def _scalar(shape: Shape, value: Any) -> list[str]:
    """The constraints a string, number, boolean or blob breaks ("have length ...")."""
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            return ["be a string"]
        if len(value) <= 256 and not shape.metadata.get("sensitive"):
            return list(_string(shape, value))  # names, ARNs, enums: they come again and again
        return list(_string.__wrapped__(shape, value))
    meta = shape.metadata
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return ["be an integer"]
        broken = []
        if "min" in meta and value < meta["min"]:
            broken.append(f"have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            broken.append(f"have value less than or equal to {meta['max']}")
        return broken
    if kind == "boolean" and not isinstance(value, bool):
        return ["be a boolean"]
    if kind == "blob":
        return _length(meta, len(value))
    return []


@functools.lru_cache(maxsize=4096)
def _string(shape: Shape, value: str) -> tuple[str, ...]:
    meta = shape.metadata
    broken = _length(meta, len(value))
    pattern = meta.get("pattern")
    if pattern and not _compiled(pattern).fullmatch(value):
        broken.append(f"satisfy regular expression pattern: {pattern}")
    enum = shape.enum
    if enum and value not in enum:
        broken.append(f"satisfy enum value set: [{', '.join(enum)}]")
    return tuple(broken)


def _length(meta: dict[str, Any], size: int) -> list[str]:
    broken = []
    if "min" in meta and size < meta["min"]:
        broken.append(f"have length greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        broken.append(f"have length less than or equal to {meta['max']}")
    return broken


def summary(errors: list[str]) -> str:
    """The ValidationException message for a list of failures."""
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors)
