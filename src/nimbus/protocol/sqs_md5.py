"""The MD5 digests SQS returns with messages (MD5OfMessageBody, MD5OfMessageAttributes,
MD5OfMessageSystemAttributes). SDKs that verify them (Java, .NET, Go v1) recompute them
with this exact algorithm, so a byte out of place makes the client fail. Pure.

Attributes are digested in order of name; each contributes
  len(name) name len(type) type transport value_len value
with 4-byte big-endian lengths and a 1-byte transport: 1 for String/Number (UTF-8 of
StringValue), 2 for Binary (the raw bytes).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import Any

_STRING = b"\x01"
_BINARY = b"\x02"


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]] | None) -> str | None:
    """None when there are no attributes (AWS then omits the field). Binary values are
    bytes (decoded from base64 by the caller)."""
    if not attributes:
        return None
    parts: list[bytes] = []
    for name in sorted(attributes):
        value = attributes[name]
        data_type = str(value["DataType"])
        parts.append(_field(name.encode("utf-8")))
        parts.append(_field(data_type.encode("utf-8")))
        binary = value.get("BinaryValue")
        if binary is not None:
            parts.append(_BINARY)
            parts.append(_field(bytes(binary)))
        else:
            parts.append(_STRING)
            parts.append(_field(str(value.get("StringValue", "")).encode("utf-8")))
    return hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
