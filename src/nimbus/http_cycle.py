"""One HTTP/1.1 request and its response, as ASGI's `receive` and `send` (one task each).

The connection side (parsing, flow control, keep-alive, pipelining) is http_protocol.py."""

from __future__ import annotations

import asyncio
import functools
import http
import logging
import re
from typing import Any, Protocol

log = logging.getLogger("nimbus.http")
Message = dict[str, Any]
HEADER_NAME_RE = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
HEADER_VALUE_RE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")  # no CR/LF: no response splitting
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _status_line(code: int) -> bytes:
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {code} {phrase}\r\n".encode()


STATUS_LINE = {code: _status_line(code) for code in range(100, 600)}
DISCONNECT: Message = {"type": "http.disconnect"}


class Connection(Protocol):
    """What a cycle needs of its connection (http_protocol.HttpProtocol)."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    write_paused: bool
    server_state: Any  # uvicorn's ServerState: default_headers (the Date header)

    def resume_reading(self) -> None: ...

    async def drain(self) -> None: ...

    def response_complete(self, cycle: Cycle) -> None: ...


class Cycle:
    """One request and its response: the ASGI `receive` and `send` of one task."""

    __slots__ = (
        "body",
        "chunked",
        "delivered_end",
        "disconnected",
        "expect_continue",
        "head",
        "keep_alive",
        "more_body",
        "protocol",
        "remaining",
        "response_complete",
        "scope",
        "waiter",
    )

    def __init__(
        self, protocol: Connection, scope: dict[str, Any], keep_alive: bool, expect: bool
    ) -> None:
        self.protocol = protocol
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect
        self.body = bytearray()
        self.more_body = True  # the parser has not seen the end of the body
        self.delivered_end = False  # receive() has returned the body's last part
        self.disconnected = False
        self.response_complete = False
        self.head: bytes | None = None  # status line and headers, written with the first body
        self.chunked = False
        self.remaining = 0  # Content-Length bytes still to send
        self.waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self, app: Any) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException:
            log.exception("Exception in ASGI application")
            if self.head is None and not self.response_complete and not self.disconnected:
                await self._send_500()
            elif not self.response_complete:
                self.protocol.transport.close()
        else:
            if self.head is None and not self.response_complete and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._send_500()
            elif not self.response_complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self.protocol.transport.close()

    async def _send_500(self) -> None:
        self.keep_alive = False
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        await self.send({"type": "http.response.start", "status": 500, "headers": headers})
        await self.send({"type": "http.response.body", "body": b"Internal Server Error"})

    # ASGI ---------------------------------------------------------------------------------
    async def receive(self) -> Message:
        protocol = self.protocol
        if self.expect_continue:
            self.expect_continue = False
            if not protocol.transport.is_closing():
                protocol.transport.write(CONTINUE)
        while True:
            if self.disconnected or self.response_complete:
                return DISCONNECT
            if self.body or not (self.more_body or self.delivered_end):
                body = bytes(self.body)
                self.body.clear()
                protocol.resume_reading()
                self.delivered_end = not self.more_body
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            # Nothing to deliver (or the whole body went out): wait for more, the response's
            # end or the client going away (ASGI).
            protocol.resume_reading()
            self.waiter = protocol.loop.create_future()
            await self.waiter
            self.waiter = None

    async def send(self, message: Message) -> None:
        protocol = self.protocol
        if protocol.write_paused and not self.disconnected:
            await protocol.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if self.head is None and not self.response_complete:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', got '{kind}'.")
            self.head = self._head(message["status"], message.get("headers", ()))
            self.expect_continue = False  # no 100 once the answer is decided
            return
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{kind}' after the response completed.")
        if kind != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', got '{kind}'.")
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        head, self.head = self.head, b""
        if self.scope["method"] == "HEAD":
            body = b""
            self.remaining = 0
        elif self.chunked:
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + (
                b"" if more else b"0\r\n\r\n"
            )
        else:
            if len(body) > self.remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self.remaining -= len(body)
        out = head + body if head else body
        if out:
            protocol.transport.write(out)
        if not more:
            if self.remaining:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.wake()
            protocol.response_complete(self)

    def _head(self, status: int, headers: Any) -> bytes:
        parts = [STATUS_LINE[status]]
        values = []
        length: int | None = None
        chunked = close = False
        for raw_name, value in (*self.protocol.server_state.default_headers, *headers):
            name = _checked_name(raw_name)
            values.append(value)
            if name in _FRAMING:
                if name == b"content-length" and length is None and not chunked:
                    length = int(value)
                elif name == b"transfer-encoding" and value.lower() == b"chunked":
                    chunked, length = True, None
                elif name == b"connection" and b"close" in value.lower():
                    close = True
            parts += (name, b": ", value, b"\r\n")
        if HEADER_VALUE_RE.search(b"".join(values)):  # one scan for all: none may hold CR/LF
            raise RuntimeError("Invalid HTTP header value.")
        if close:
            self.keep_alive = False
        elif not self.keep_alive:
            parts.append(b"connection: close\r\n")
        bodiless = self.scope["method"] == "HEAD" or status in (204, 304)
        if length is None and not chunked and not bodiless:
            chunked = True  # no length given: the body goes out in chunks
            parts.append(b"transfer-encoding: chunked\r\n")
        self.chunked = chunked
        self.remaining = length or 0
        parts.append(b"\r\n")
        return b"".join(parts)


_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))


@functools.lru_cache(maxsize=1024)  # the same few names in every reply
def _checked_name(name: bytes) -> bytes:
    if HEADER_NAME_RE.search(name):
        raise RuntimeError("Invalid HTTP header name.")
    return name.lower()
