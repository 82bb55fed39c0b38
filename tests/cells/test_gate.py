"""The invoke cell's gate: which request heads a cell serves itself, and how long they are."""

from __future__ import annotations

import pytest

from nimbus.cells.gate import HAND_OFF, MAX_HEAD, NEED_MORE, classify

INVOKE = "POST /2015-03-31/functions/{name}/invocations{query} HTTP/1.1"


def request(
    line: str = INVOKE, body: bytes = b'{"a": 1}', name: str = "fn", query: str = "", **headers: str
) -> bytes:
    fields = {"Host": "127.0.0.1:8900", "Content-Length": str(len(body)), **headers}
    head = line.format(name=name, query=query) + "".join(
        f"\r\n{k.replace('_', '-')}: {v}" for k, v in fields.items()
    )
    return head.encode() + b"\r\n\r\n" + body


def test_a_synchronous_invoke_is_served_here_with_its_exact_length() -> None:
    raw = request()
    assert classify(raw) == len(raw)
    assert classify(raw + request()) == len(raw)  # pipelined: one request at a time
    assert classify(raw[:-3]) == len(raw)  # the body may still be on its way
    for kind in ("RequestResponse", "DryRun", "requestresponse"):
        framed = request(X_Amz_Invocation_Type=kind)
        assert classify(framed) == len(framed)
    qualified = request(query="?Qualifier=%24LATEST", name="arn%3Aaws%3Alambda%3Aus-east-1%3A1")
    assert classify(qualified) == len(qualified)
    lower = request(**{"content-length": "8"}).replace(b"Content-Length: 8\r\n", b"")
    assert classify(lower) == len(lower)


@pytest.mark.parametrize(
    "raw",
    [
        request(X_Amz_Invocation_Type="Event"),  # asynchronous: the primary's queue
        request(Transfer_Encoding="chunked"),
        request(Expect="100-continue"),
        request(line="GET /2015-03-31/functions/{name}/invocations HTTP/1.1"),
        request(line="POST /2015-03-31/functions/{name}/configuration HTTP/1.1"),
        request(line="POST /2015-03-31/functions/{name}/invocations HTTP/1.0"),
        request(line="PUT /bucket/key HTTP/1.1"),
        request(name="a/b"),
        request(Content_Length="8, 8"),
        request().replace(b"\r\n\r\n", b"\r\nContent-Length: 8\r\n\r\n", 1),  # twice
        request(X_Amz_Invocation_Type="Event, RequestResponse"),
        b"GARBAGE\r\n\r\n",
    ],
    ids=[
        "event", "chunked", "expect", "get", "other-operation", "http-1.0", "s3", "slash",
        "bad-length", "two-lengths", "two-types", "garbage",
    ],
)  # fmt: skip
def test_everything_else_goes_to_the_primary(raw: bytes) -> None:
    assert classify(raw) == HAND_OFF


def test_a_head_still_coming_waits_unless_it_is_too_long() -> None:
    raw = request()
    assert classify(raw[: raw.index(b"\r\n\r\n")]) == NEED_MORE
    assert classify(b"") == NEED_MORE
    assert classify(
        b"POST /2015-03-31/functions/x/invocations HTTP/1.1\r\nX: " + b"y" * MAX_HEAD
    ) == (HAND_OFF)
