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
from urllib.parse import unquote

import httptools
import orjson

from nimbus.engine.transport import Outcome, fail, settle
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


def _error(error_type: str, message: str) -> bytes:
    return orjson.dumps({"errorMessage": message, "errorType": error_type})


_OK = b'{"status":"OK"}'
_INVALID_ID = _error("InvalidRequestID", "Invalid request ID")
_NOT_FOUND = _error("NotFound", "Not found")
_SIZE = f"maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
_ENTITY_TOO_LARGE = _error("RequestEntityTooLarge", f"Exceeded {_SIZE}")
# What the caller gets instead of a too large response.
_TOO_LARGE = Outcome(
    "error",
    _error("Function.ResponseSizeTooLarge", f"Response payload size exceeded {_SIZE}"),
    error_type="Function.ResponseSizeTooLarge",
)


@dataclass(slots=True)
class _Request:
    method: str = ""
    url: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, trailers too
    body: bytearray = field(default_factory=bytearray)
    size: int = 0  # bytes received; the body keeps at most MAX_STREAM_BYTES of them
    keep_alive: bool = True


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
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
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


class HttpTransport:
    """The Runtime API of one environment (implements `transport.Transport`)."""

    def __init__(self, allowed_uid: int | None = None) -> None:
        self._allowed_uid = allowed_uid
        self._server: asyncio.Server | None = None
        self._ready: asyncio.Future[Outcome | None] | None = None
        self._init_failed = False
        # The invocation handed to invoke() and its answer; None between invocations.
        self._pending: tuple[Invocation, asyncio.Future[Outcome]] | None = None
        self._parked: deque[_Connection] = deque()
        self._connections: set[_Connection] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._server = await loop.create_server(lambda: _Connection(self), "127.0.0.1", 0)

    @property
    def address(self) -> str:
        """What AWS_LAMBDA_RUNTIME_API is set to."""
        assert self._server is not None, "start() first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    # Transport
    def ready(self) -> asyncio.Future[Outcome | None]:
        assert self._ready is not None, "start() first"
        return self._ready

    def invoke(self, invocation: Invocation) -> asyncio.Future[Outcome]:
        if self._pending is not None and not self._pending[1].done():
            raise RuntimeError("an invocation is already in flight in this environment")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending = (invocation, future)
        if self._parked:
            self._deliver(self._parked.popleft())
        return future

    def abort(self, reason: str) -> None:
        if self._ready is not None:
            fail(self._ready, reason)
        if self._pending is not None:
            fail(self._pending[1], reason)
            self._pending = None

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        self.abort("runtime API closed")

    # Serving
    def _admits(self, transport: asyncio.Transport) -> bool:
        if self._allowed_uid is None:
            return True
        client_host, client_port = transport.get_extra_info("peername")[:2]
        server_host, server_port = transport.get_extra_info("sockname")[:2]
        uid = socket_owner_uid(client_port, server_port, client_host, server_host)
        return uid == self._allowed_uid

    def _handle(self, conn: _Connection, request: _Request) -> None:
        path = unquote(request.url.split(b"?", 1)[0].decode("latin-1"))
        request_id, _, action = path.removeprefix(INVOCATION).rpartition("/")
        if request.method == "GET" and path == NEXT:
            self._next(conn)
        elif request.method == "POST" and path == INIT_ERROR:
            self._init_error(conn, request)
        elif request.method == "POST" and path.startswith(INVOCATION) and request_id:
            if action in ("response", "error"):
                self._answer(conn, request, request_id, action)
            else:
                conn.reply(404, _NOT_FOUND)
        else:
            conn.reply(404, _NOT_FOUND)

    def _next(self, conn: _Connection) -> None:
        assert self._ready is not None
        if self._init_failed:  # RAPID: Ready() from InitErrorState is not allowed
            conn.reply(403, _error("InvalidStateTransition", "Runtime reported an init error"))
            return
        settle(self._ready, None)
        if self._pending is not None and not self._pending[1].done():
            # A /next while the current invocation is unanswered (the runtime lost
            # its connection, or just moved on) gets that same invocation again:
            # RAPID stays in its Ready state and re-renders the current event; a
            # runtime that never answers runs into the invoke timeout.
            self._deliver(conn)
        else:
            conn.parked = True
            self._parked.append(conn)  # no timeout: blocks until there is work

    def _deliver(self, conn: _Connection) -> None:
        assert self._pending is not None
        conn.parked = False
        inv = self._pending[0]
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(inv.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", inv.invoked_arn),
        ]
        optional = (
            ("Lambda-Runtime-Trace-Id", inv.trace_id),
            ("Lambda-Runtime-Client-Context", inv.client_context),
            ("Lambda-Runtime-Cognito-Identity", inv.cognito_identity),
            ("Lambda-Runtime-Aws-Tenant-Id", inv.tenant_id),
        )
        headers += [(name, value) for name, value in optional if value]
        conn.reply(200, inv.payload, headers)

    def _init_error(self, conn: _Connection, request: _Request) -> None:
        assert self._ready is not None
        if self._ready.done():  # RAPID: InitError() after Ready() is not allowed
            conn.reply(403, _error("InvalidStateTransition", "Init already completed"))
            return
        self._init_failed = True
        conn.reply(202, _OK)
        error_type = request.headers.get(ERROR_TYPE)
        settle(self._ready, Outcome("init_error", bytes(request.body), error_type=error_type))

    def _answer(self, conn: _Connection, request: _Request, request_id: str, action: str) -> None:
        # Only the invocation in flight may be answered, once (a cancelled or aborted
        # one no more): RAPID's ErrInvalidInvokeID / ErrResponseSent, both 400.
        pending = self._pending
        if pending is None or pending[0].request_id != request_id or pending[1].done():
            conn.reply(400, _INVALID_ID)
            return
        self._pending, future = None, pending[1]
        streaming = request.headers.get(RESPONSE_MODE, "").lower() == "streaming"
        if request.size > (MAX_STREAM_BYTES if streaming else MAX_RESPONSE_BYTES):
            conn.reply(413, _ENTITY_TOO_LARGE)
            settle(future, _TOO_LARGE)
        else:
            conn.reply(202, _OK)
            settle(future, _outcome(request, action, streaming))


def _outcome(request: _Request, action: str, streaming: bool) -> Outcome:
    body = bytes(request.body)
    error_type = request.headers.get(ERROR_TYPE)
    if action == "error":
        return Outcome("error", body, error_type=error_type)
    if streaming and error_type:
        # Error trailers: the function failed mid-stream; report the error, not the
        # partial stream. The trailer body is base64 of the usual error document.
        try:
            error_body = base64.b64decode(request.headers.get(ERROR_BODY, ""), validate=True)
        except (binascii.Error, ValueError):
            error_body = b""
        return Outcome("error", error_body or _error(error_type, ""), error_type=error_type)
    content_type = request.headers.get("content-type") or "application/json"
    return Outcome("response", body, content_type=content_type)


def socket_owner_uid(
    local_port_of_client: int,
    server_port: int,
    client_host: str = "127.0.0.1",
    server_host: str = "127.0.0.1",
) -> int | None:
    """The uid owning the client end of a loopback TCP connection to our server.

    The client socket is the /proc/net/tcp(6) row whose local side is the peer
    we accepted and whose remote side is our listening address. Hosts are
    compared too: a socket on 127.0.0.2 may share the client's port number.
    """
    client = (ipaddress.ip_address(client_host), local_port_of_client)
    server = (ipaddress.ip_address(server_host), server_port)
    port_hex = f":{local_port_of_client:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows)  # column titles
                for row in rows:
                    fields = row.split()
                    # Cheap port test first; TIME_WAIT (06) rows belong to no process (uid 0).
                    if not fields[1].endswith(port_hex) or fields[3] == "06":
                        continue
                    if _endpoint(fields[1]) == client and _endpoint(fields[2]) == server:
                        return int(fields[7])
        except OSError:
            continue
    return None


def _endpoint(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """Decode '0100007F:1F90': the kernel prints each 32-bit word in host byte order."""
    host_hex, port_hex = text.split(":")
    words = [int(host_hex[i : i + 8], 16) for i in range(0, len(host_hex), 8)]
    address = ipaddress.ip_address(struct.pack(f"={len(words)}I", *words))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address, int(port_hex, 16)
