"""S3 POST forms: the streaming multipart/form-data parser at any split, and the policy."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from nimbus.errors import EntityTooLarge, EntityTooSmall, S3Error
from nimbus.protocol.s3_post import (
    Field,
    FileStart,
    FormError,
    FormParser,
    Policy,
    boundary_of,
    check_length,
)

BOUNDARY = b"----form-boundary-1234"


def form(fields: dict[str, str], data: bytes, after: str = "") -> bytes:
    out = b""
    for name, value in fields.items():
        out += b"--" + BOUNDARY + b"\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    out += b"--" + BOUNDARY + b"\r\n"
    out += b'Content-Disposition: form-data; name="file"; filename="a b.bin"\r\n'
    out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    if after:
        out += b"--" + BOUNDARY + b"\r\n"
        out += f'Content-Disposition: form-data; name="after"\r\n\r\n{after}\r\n'.encode()
    return out + b"--" + BOUNDARY + b"--\r\n"


@pytest.mark.parametrize("size", [1, 3, 17, 1000, 100_000])
def test_parser_any_split(size: int) -> None:
    # Data that looks like a boundary, but is not one.
    data = b"\r\n--" + BOUNDARY[:-1] + b"x" + bytes(range(256)) * 50 + b"\r\n-"
    body = form({"key": "k/${filename}", "Policy": "abc"}, data, after="ignored")
    parser = FormParser(BOUNDARY)
    events = []
    for i in range(0, len(body), size):
        events += parser.feed(body[i : i + size])
    parser.finish()
    fields = [e for e in events if isinstance(e, Field)]
    assert fields == [
        Field("key", "k/${filename}"),
        Field("policy", "abc"),
        Field("after", "ignored"),
    ]
    starts = [e for e in events if isinstance(e, FileStart)]
    assert starts == [FileStart("a b.bin", "application/octet-stream")]
    assert b"".join(e for e in events if isinstance(e, bytes)) == data
    assert events[-1] is None


def test_parser_errors() -> None:
    assert boundary_of('multipart/form-data; boundary="abc"') == b"abc"
    with pytest.raises(FormError):
        boundary_of("multipart/form-data")
    parser = FormParser(BOUNDARY)
    parser.feed(form({"key": "k"}, b"data")[:-30])
    with pytest.raises(FormError):
        parser.finish()
    with pytest.raises(FormError):
        FormParser(BOUNDARY).feed(b"--" + BOUNDARY + b"XX")


def policy(conditions: list[object], expires: timedelta = timedelta(hours=1)) -> Policy:
    moment = (datetime.now(UTC) + expires).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {"expiration": moment, "conditions": conditions}
    return Policy.decode(base64.b64encode(json.dumps(document).encode()).decode())


def test_policy_conditions() -> None:
    now = datetime.now(UTC)
    rules = policy(
        [{"bucket": "b"}, ["starts-with", "$key", "up/"], ["content-length-range", 1, 5]]
    )
    assert rules.check({"bucket": "b", "key": "up/x", "policy": "p"}, now) == (1, 5)
    with pytest.raises(S3Error) as denied:
        rules.check({"bucket": "b", "key": "down/x"}, now)
    assert (denied.value.code, denied.value.status) == ("AccessDenied", 403)
    with pytest.raises(S3Error) as extra:
        rules.check({"bucket": "b", "key": "up/x", "acl": "public-read"}, now)
    assert extra.value.message == "Invalid according to Policy: Extra input fields: acl"
    rules.check({"bucket": "b", "key": "up/x", "x-ignore-me": "1"}, now)
    with pytest.raises(S3Error) as expired:
        policy([], timedelta(seconds=-1)).check({}, now)
    assert expired.value.message == "Invalid according to Policy: Policy expired."
    with pytest.raises(EntityTooLarge):
        check_length(6, (1, 5))
    with pytest.raises(EntityTooSmall):
        check_length(0, (1, 5))
    check_length(5, (1, 5))
    with pytest.raises(S3Error):
        Policy.decode("not base64 json")
