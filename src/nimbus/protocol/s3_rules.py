"""S3's request rules that need no state: bucket names, Range, conditional headers. Pure."""

from __future__ import annotations

import ipaddress
import re
from email.utils import parsedate_to_datetime

from nimbus.errors import InvalidBucketName, InvalidRange

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(name: str) -> None:
    """AWS' rules for general purpose bucket names; InvalidBucketName otherwise."""
    valid = (
        _BUCKET.fullmatch(name) is not None
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and not name.startswith(_BAD_PREFIXES)
        and not name.endswith(_BAD_SUFFIXES)
        and not _is_ip(name)
    )
    if not valid:
        raise InvalidBucketName(BucketName=name)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end] (inclusive) of a Range header, or None for the whole object (no header,
    or one S3 ignores: malformed, several ranges). InvalidRange (416) if unsatisfiable."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first:  # suffix: the last N bytes
            count = int(last)
            if count <= 0 or size == 0:
                raise _unsatisfiable(header, size)
            return max(0, size - count), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    if end < start:
        return None
    return start, min(end, size - 1)


def _unsatisfiable(header: str, size: int) -> InvalidRange:
    return InvalidRange(RangeRequested=header, ActualObjectSize=str(size))


def _etags(header: str) -> list[str]:
    return [tag.strip().strip('"') for tag in header.split(",")]


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None  # S3 ignores an unparsable date


def evaluate(
    etag: str,
    last_modified: float,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
) -> tuple[int, str] | None:
    """Conditional GET/HEAD (RFC 7232 order, as S3): None to go on, or (412, the failed
    header) or (304, the header) to stop."""
    seconds = int(last_modified)
    if if_match is not None:
        if "*" not in _etags(if_match) and etag not in _etags(if_match):
            return 412, "If-Match"
    else:
        since = _date(if_unmodified_since)
        if since is not None and seconds > since:
            return 412, "If-Unmodified-Since"
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if "*" in tags or etag in tags:
            return 304, "If-None-Match"
    else:
        since = _date(if_modified_since)
        if since is not None and seconds <= since:
            return 304, "If-Modified-Since"
    return None
