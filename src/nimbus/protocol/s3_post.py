"""S3 POST uploads (browser forms, boto3's generate_presigned_post): an incremental
multipart/form-data parser (the file part streams, the other fields are small) and the
POST policy's checks (expiration and conditions). Pure: no I/O, no clock."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from nimbus.errors import EntityTooLarge, EntityTooSmall, InvalidArgument, S3Error

MAX_FIELD = 20 * 1024  # AWS: the form fields (without the file) up to 20 KB
# Fields the policy need not name (AWS' list, plus the file).
_UNCHECKED = {"file", "policy", "x-amz-signature", "signature", "awsaccesskeyid"}


class FormError(ValueError):
    """The body is not the multipart/form-data it claims."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # lower case
    value: str


@dataclass(frozen=True, slots=True)
class FileStart:
    filename: str
    content_type: str | None


def boundary_of(content_type: str) -> bytes:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise FormError("no boundary")


class FormParser:
    """Feed the body; get Field, FileStart, bytes (the file's data) and finally None."""

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        self._buf = bytearray(b"\r\n")  # the first boundary has no CRLF before it
        self._state = "preamble"  # preamble | headers | field | file | done
        self._name = ""
        self._size = 0

    def feed(self, data: bytes) -> list[Field | FileStart | bytes | None]:
        self._buf += data
        out: list[Field | FileStart | bytes | None] = []
        while self._step(out):
            pass
        return out

    def _step(self, out: list[Field | FileStart | bytes | None]) -> bool:
        buf = self._buf
        if self._state == "done":
            buf.clear()
            return False
        if self._state in ("preamble", "field", "file"):
            at = buf.find(self._delimiter)
            if at < 0:
                if self._state == "file":  # stream all but what may be a partial delimiter
                    keep = len(self._delimiter) - 1
                    if len(buf) > keep:
                        out.append(bytes(buf[: len(buf) - keep]))
                        del buf[: len(buf) - keep]
                elif len(buf) > MAX_FIELD + len(self._delimiter):
                    raise FormError("a form field is too large")
                return False
            if len(buf) < at + len(self._delimiter) + 2:
                return False  # the delimiter's ending ("--" or CRLF) is still to come
            ending = bytes(buf[at + len(self._delimiter) : at + len(self._delimiter) + 2])
            if self._state == "field":
                out.append(Field(self._name, bytes(buf[:at]).decode("utf-8", "replace")))
            elif self._state == "file" and at:
                out.append(bytes(buf[:at]))
            del buf[: at + len(self._delimiter) + 2]
            if ending == b"--":
                self._state = "done"
                out.append(None)
                return False
            if ending != b"\r\n":
                raise FormError("bad boundary line")
            self._state = "headers"
            return True
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_FIELD:
                raise FormError("part headers too large")
            return False
        headers = _part_headers(bytes(buf[:end]).decode("utf-8", "replace"))
        del buf[: end + 4]
        disposition = headers.get("content-disposition", "")
        params = _disposition_params(disposition)
        self._name = params.get("name", "").lower()
        if self._name == "file":
            self._state = "file"
            out.append(FileStart(params.get("filename", ""), headers.get("content-type")))
        else:
            self._state = "field"
        return True

    def finish(self) -> None:
        if self._state != "done":
            raise FormError("the body ended inside the form")


def _part_headers(text: str) -> dict[str, str]:
    headers = {}
    for line in text.split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _disposition_params(value: str) -> dict[str, str]:
    params = {}
    for part in value.split(";")[1:]:
        name, _, raw = part.strip().partition("=")
        params[name.strip().lower()] = raw.strip().strip('"')
    return params


def _denied(reason: str) -> S3Error:
    error = S3Error(f"Invalid according to Policy: {reason}")
    error.code, error.status = "AccessDenied", 403
    return error


@dataclass(frozen=True)
class Policy:
    expiration: datetime
    conditions: list[object]

    @classmethod
    def decode(cls, encoded: str) -> Policy:
        try:
            document = orjson.loads(base64.b64decode(encoded, validate=True))
            expiration = datetime.fromisoformat(document["expiration"].replace("Z", "+00:00"))
            conditions = document.get("conditions", [])
            if not isinstance(conditions, list):
                raise TypeError
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidArgument("Invalid Policy: Invalid JSON.", ArgumentName="policy") from None
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=UTC)
        return cls(expiration, conditions)

    def check(self, fields: dict[str, str], now: datetime) -> tuple[int, int] | None:
        """Raise AccessDenied unless every condition holds and every field is named by
        one; the content-length-range (min, max) to check once the size is known."""
        if now > self.expiration:
            raise _denied("Policy expired.")
        named: set[str] = set()
        length: tuple[int, int] | None = None
        for condition in self.conditions:
            if isinstance(condition, dict):
                for name, expected in condition.items():
                    named.add(name.lower())
                    if fields.get(name.lower()) != str(expected):
                        raise _denied(f'Policy Condition failed: ["eq", "${name}", "{expected}"]')
                continue
            if not isinstance(condition, list) or len(condition) != 3:
                raise InvalidArgument("Invalid Policy: Invalid Simple-Condition.")
            operator, target, value = condition
            operator = str(operator).lower()
            if operator == "content-length-range":
                length = (int(target), int(value))
                continue
            name = str(target).lstrip("$").lower()
            named.add(name)
            actual = fields.get(name, "")
            if operator == "eq" and actual != str(value):
                raise _denied(f'Policy Condition failed: ["eq", "${name}", "{value}"]')
            if operator == "starts-with" and not actual.startswith(str(value)):
                raise _denied(f'Policy Condition failed: ["starts-with", "${name}", "{value}"]')
            if operator not in ("eq", "starts-with"):
                raise InvalidArgument(f"Invalid Policy: Invalid condition operator {operator}.")
        extra = sorted(
            name
            for name in fields
            if name not in named and name not in _UNCHECKED and not name.startswith("x-ignore-")
        )
        if extra:
            raise _denied(f"Extra input fields: {', '.join(extra)}")
        return length


def check_length(size: int, length: tuple[int, int] | None) -> None:
    if length is None:
        return
    low, high = length
    if size > high:
        raise EntityTooLarge(ProposedSize=str(size), MaxSizeAllowed=str(high))
    if size < low:
        raise EntityTooSmall(ProposedSize=str(size), MinSizeAllowed=str(low))
