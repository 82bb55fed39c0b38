"""Lambda's Runtime API (2018-06-01) over HTTP/1.1, for one custom-runtime environment.

A `provided` runtime's `bootstrap` (awslambdaric, a curl loop, ...) talks to
`http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/...`. Each environment gets
its own server on an ephemeral loopback port; when `allowed_uid` is set, only
sockets owned by the environment's uid may connect, so no environment can read
or answer another's invocations. Status codes and error bodies follow RAPID
(aws-lambda-runtime-interface-emulator).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import httptools
import orjson

from nimbus.engine.transport import EnvironmentGone, Outcome
from nimbus.models import Invocation

NEXT = "/2018-06-01/runtime/invocation/next"
INIT_ERROR = "/2018-06-01/runtime/init/error"
INVOCATION = "/2018-06-01/runtime/invocation/"
# RAPID's interop.MaxPayloadSize: "6 MB" is really 6 MiB + 100 bytes.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
MAX_STREAM_BYTES = 20 * 1024 * 1024  # documented soft limit of a streamed response
ERROR_TYPE = "lambda-runtime-function-error-type"
ERROR_BODY = "lambda-runtime-function-error-body"
RESPONSE_MODE = "lambda-runtime-function-response-mode"

_OK = b'{"status":"OK"}'
_TOO_LARGE_TYPE = "Function.ResponseSizeTooLarge"
_TOO_LARGE = Outcome(
    "error",
    b'{"errorMessage":"Response payload size exceeded maximum allowed payload size '
    b'(6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}',
    error_type=_TOO_LARGE_TYPE,
)


def _error(error_type: str, message: str) -> bytes:
    return orjson.dumps({"errorMessage": message, "errorType": error_type})


_INVALID_ID = _error("InvalidRequestID", "Invalid request ID")
_ENTITY_TOO_LARGE = _error(
    "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
)


@dataclass(slots=True)
class _Request:
    method: str = ""
    url: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, trailers too
    body: bytearray = field(default_factory=bytearray)
    size: int = 0  # bytes received; the body keeps at most MAX_STREAM_BYTES of them
    keep_alive: bool = True


@dataclass(slots=True)
class _Pending:
    invocation: Invocation
    future: asyncio.Future[Outcome]
    delivered: bool = False


class _Connection(asyncio.Protocol):
    """One client connection: parses requests in order, one at a time."""

    def __init__(self, server: HttpTransport) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._request = _Request()
        self._queue: deque[_Request] = deque()  # pipelined requests wait behind a parked /next
        self._current: _Request | None = None
        self.parked = False  # a /next waiting for an invocation

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        # asyncio already sets it, but a warm invoke depends on it (Nagle + delayed ACK).
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._server._admits(transport):
            transport.abort()
            return
        self._server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._connections.discard(self)
        if self.parked:
            self._server._parked.remove(self)
            self.parked = False

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._current = _Request(keep_alive=False)
            self.reply(400, _error("InvalidRequest", "Malformed HTTP request"))

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self._request.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._request.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        request = self._request
        request.method = self._parser.get_method().decode("ascii")
        request.keep_alive = self._parser.should_keep_alive()
        idle = not self._queue and self._current is None
        if idle and request.headers.get("expect", "").lower() == "100-continue":
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, data: bytes) -> None:
        request = self._request
        request.size += len(data)
        if request.size <= MAX_STREAM_BYTES:  # past any limit: count, don't keep
            request.body += data

    def on_message_complete(self) -> None:
        self._queue.append(self._request)
        self._request = _Request()
        self._drain()

    def _drain(self) -> None:
        while self._current is None and self._queue and self._transport is not None:
            self._current = self._queue.popleft()
            self._server._handle(self, self._current)

    def reply(self, status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Answer the current request, then go on with the next pipelined one."""
        request, self._current = self._current, None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        keep_alive = request is not None and request.keep_alive
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json"]
        # Header values come from callers (client context, ...): no CR/LF may split them.
        head += [f"{k}: {v.replace(chr(13), ' ').replace(chr(10), ' ')}" for k, v in headers]
        head.append(f"Content-Length: {len(body)}")
        if not keep_alive:
            head.append("Connection: close")
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        if not keep_alive:
            transport.close()
            return
        self._drain()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()
