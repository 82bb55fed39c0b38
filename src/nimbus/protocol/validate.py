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
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return str(value)
    return str(value)


def validation_errors(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every constraint `value` breaks, in AWS' phrasing (empty when valid)."""
    errors: list[str] = []
    _check(shape, value, path, errors)
    return errors


def _fail(errors: list[str], value: Any, path: str, constraint: str) -> None:
    errors.append(
        f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: Member must {constraint}"
    )


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if value is None:
        return
    meta = shape.metadata
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            _fail(errors, value, path, "be a structure")
            return
        for name, member in shape.members.items():
            child = f"{path}.{_camel(name)}" if path else _camel(name)
            if name in shape.required_members and value.get(name) is None:
                _fail(errors, None, child, "not be null")
                continue
            _check(member, value.get(name), child, errors)
        return
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            _fail(errors, value, path, "be a list")
            return
        _length(meta, value, path, errors, "length")
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}.{i + 1}.member", errors)
        return
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            _fail(errors, value, path, "be a map")
            return
        _length(meta, value, path, errors, "length")
        for key, item in value.items():
            _check(shape.key, key, f"{path}.{key}.member", errors)
            _check(shape.value, item, f"{path}.{key}.member", errors)
        return
    if kind == "string":
        if not isinstance(value, str):
            _fail(errors, value, path, "be a string")
            return
        _length(meta, value, path, errors, "length")
        pattern = meta.get("pattern")
        if pattern and not _compiled(pattern).fullmatch(value):
            _fail(errors, value, path, f"satisfy regular expression pattern: {pattern}")
        enum = shape.enum
        if enum and value not in enum:
            _fail(errors, value, path, f"satisfy enum value set: [{', '.join(enum)}]")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(errors, value, path, "be an integer")
            return
        if "min" in meta and value < meta["min"]:
            _fail(errors, value, path, f"have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            _fail(errors, value, path, f"have value less than or equal to {meta['max']}")
    elif kind == "boolean" and not isinstance(value, bool):
        _fail(errors, value, path, "be a boolean")
    elif kind == "blob":
        _length(meta, value, path, errors, "length")


def _length(meta: dict[str, Any], value: Any, path: str, errors: list[str], what: str) -> None:
    size = len(value)
    if "min" in meta and size < meta["min"]:
        _fail(errors, value, path, f"have {what} greater than or equal to {meta['min']}")
    if "max" in meta and size > meta["max"]:
        _fail(errors, value, path, f"have {what} less than or equal to {meta['max']}")


def summary(errors: list[str]) -> str:
    """The ValidationException message for a list of failures."""
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors)
