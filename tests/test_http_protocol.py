"""Nimbus' HTTP/1.1 protocol under uvicorn's Server, driven over real sockets.

The whole API suite runs through it too; these tests pin the HTTP mechanics an AWS SDK
rarely shows: pipelining, chunked bodies, 100-continue, flow control both ways, unread
bodies, keep-alive expiry, disconnects, HTTP/1.0 and graceful shutdown."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from nimbus.http_protocol import HttpProtocol

Message = dict[str, Any]


class App:
    """A test ASGI app: each path is a behaviour."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        if path == "/noread":
            await self.reply(send, 200, b"not read")
            return
        body = await self.read(receive)
        if path == "/echo":
            await self.reply(send, 200, body, [(b"x-len", str(len(body)).encode())])
        elif path == "/digest":
            await self.reply(send, 200, hashlib.sha256(body).hexdigest().encode())
        elif path.startswith("/slow/"):
            await asyncio.sleep(float(path.rsplit("/", 1)[1]))
            await self.reply(send, 200, path.encode())
        elif path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(int(scope["query_string"] or b"3")):
                await send(
                    {"type": "http.response.body", "body": b"%d" % i * 65536, "more_body": True}
                )
            await send({"type": "http.response.body", "body": b""})
        elif path == "/boom":
            raise ValueError("boom")
        elif path == "/bad-header":
            await self.reply(send, 200, b"x", [(b"x-evil", b"a\r\nset-cookie: x")])
        elif path == "/scope":
            text = (
                f"{scope['method']} {scope['path']} {scope['raw_path']!r} {scope['query_string']!r}"
            )
            await self.reply(send, 200, text.encode())
        elif path == "/wait-disconnect":
            await self.reply(send, 200, b"ok", more=True)
            message = await receive()
            self.events.append(message["type"])
        else:
            await self.reply(send, 404, b"")

    @staticmethod
    async def read(receive: Any) -> bytes:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("client went away")
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)

    @staticmethod
    async def reply(
        send: Any, status: int, body: bytes, headers: list[Any] | None = None, more: bool = False
    ) -> None:
        headers = [(b"content-length", b"%d" % len(body)), *(headers or [])]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": more})


class Server:
    def __init__(self, app: App, keep_alive: int = 5) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            http=HttpProtocol,
            lifespan="off",
            log_level="critical",
            timeout_keep_alive=keep_alive,
            timeout_graceful_shutdown=10,
            server_header=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def app() -> App:
    return App()


@pytest.fixture
def server(app: App) -> Iterator[Server]:
    running = Server(app)
    yield running
    running.stop()


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response off the socket (Content-Length or chunked); leaves the rest in buffer."""
    while b"\r\n\r\n" not in buffer:
        _fill(sock, buffer)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    buffer[:] = rest
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if "content-length" in headers:
        size = int(headers["content-length"])
        while len(buffer) < size:
            _fill(sock, buffer)
        body = bytes(buffer[:size])
        del buffer[:size]
        return status, headers, body
    if headers.get("transfer-encoding") == "chunked":
        body = bytearray()
        while True:
            while b"\r\n" not in buffer:
                _fill(sock, buffer)
            line, _, _ = bytes(buffer).partition(b"\r\n")
            size = int(line, 16)
            while len(buffer) < len(line) + 2 + size + 2:
                _fill(sock, buffer)
            body += buffer[len(line) + 2 : len(line) + 2 + size]
            del buffer[: len(line) + 2 + size + 2]
            if size == 0:
                return status, headers, bytes(body)
    return status, headers, b""


def _fill(sock: socket.socket, buffer: bytearray) -> None:
    data = sock.recv(1 << 20)
    if not data:
        raise ConnectionError("closed by the server")
    buffer += data


def request(path: str, body: bytes = b"", method: str = "POST", extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_keep_alive_serves_requests_in_turn(server: Server) -> None:
    with server.connect() as sock:
        buffer = bytearray()
        for i in range(3):
            sock.sendall(request("/echo", b"hello %d" % i))
            status, headers, body = read_response(sock, buffer)
            assert (status, body, headers["x-len"]) == (200, b"hello %d" % i, "7")
            assert "date" in headers and "server" not in headers
        assert buffer == b""


def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request("/slow/0.2") + request("/echo", b"second") + request("/slow/0"))
        buffer = bytearray()
        bodies = [read_response(sock, buffer)[2] for _ in range(3)]
    assert bodies == [b"/slow/0.2", b"second", b"/slow/0"]


def test_chunked_request_body(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        status, _, body = read_response(sock, bytearray())
    assert (status, body) == (200, b"hello world")


def test_expect_100_continue_is_answered_when_the_app_reads(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        buffer = bytearray()
        status, _, _ = read_response(sock, buffer)
        assert status == 100
        sock.sendall(b"body")
        assert read_response(sock, buffer)[::2] == (200, b"body")


def test_large_bodies_both_ways(server: Server) -> None:
    """A 12 MB upload is paused and resumed by flow control; a streamed reply arrives whole."""
    payload = bytes(range(256)) * (12 * 4096)
    with server.connect() as sock:
        sock.sendall(request("/digest", payload))
        buffer = bytearray()
        assert read_response(sock, buffer)[2] == hashlib.sha256(payload).hexdigest().encode()
        sock.sendall(request("/stream?64", method="GET"))
        _, headers, body = read_response(sock, buffer)
    assert headers["transfer-encoding"] == "chunked"
    assert body == b"".join(b"%d" % i * 65536 for i in range(64))


def test_an_unread_body_does_not_become_the_next_request(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request("/noread", b"x" * 200_000) + request("/echo", b"after"))
        buffer = bytearray()
        assert read_response(sock, buffer)[2] == b"not read"
        assert read_response(sock, buffer)[2] == b"after"


def test_malformed_request_gets_400_and_close(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
        status, headers, body = read_response(sock, bytearray())
        assert (status, headers["connection"]) == (400, "close") and b"Invalid" in body
        assert closed_by_server(sock)


def test_non_ascii_path_bytes_get_400(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 400


def test_app_errors_become_500_and_close(server: Server) -> None:
    for path in ("/boom", "/bad-header"):  # raised by the app; a header that splits a reply
        with server.connect() as sock:
            sock.sendall(request(path))
            status, headers, body = read_response(sock, bytearray())
            assert (status, body, headers["connection"]) == (500, b"Internal Server Error", "close")
            assert b"set-cookie" not in body
            assert closed_by_server(sock)


def test_head_keeps_the_length_and_sends_no_body(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request("/echo", method="HEAD") + request("/echo", b"next"))
        buffer = bytearray()
        sock.settimeout(5)
        while b"\r\n\r\n" not in buffer:
            _fill(sock, buffer)
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        assert b"content-length: 0" in head
        buffer[:] = rest
        assert read_response(sock, buffer)[2] == b"next"


def test_scope_has_decoded_path_and_raw_path(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(request("/sc%6Fpe?a=%20b", method="GET"))
        body = read_response(sock, bytearray())[2]
    assert body == b"GET /scope b'/sc%6Fpe' b'a=%20b'"


def test_http_1_0_closes_after_the_response(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
        status, headers, body = read_response(sock, bytearray())
        assert (status, body, headers["connection"]) == (200, b"hi", "close")
        assert closed_by_server(sock)


def test_client_disconnect_reaches_the_app(server: Server, app: App) -> None:
    with server.connect() as sock:
        sock.sendall(request("/wait-disconnect"))
        buffer = bytearray()
        while b"ok" not in buffer:
            _fill(sock, buffer)
    deadline = time.monotonic() + 5
    while not app.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.events == ["http.disconnect"]


def test_idle_connections_expire_busy_ones_do_not(app: App) -> None:
    running = Server(app, keep_alive=1)
    try:
        with running.connect() as idle, running.connect() as busy:
            busy.sendall(request("/slow/1.6"))  # longer than the keep-alive timeout
            t = time.monotonic()
            assert closed_by_server(idle)
            assert 0.9 < time.monotonic() - t < 2.5
            assert read_response(busy, bytearray())[2] == b"/slow/1.6"
    finally:
        running.stop()


def test_graceful_shutdown_finishes_the_request_in_flight(app: App) -> None:
    running = Server(app)
    with running.connect() as sock:
        sock.sendall(request("/slow/0.5"))
        time.sleep(0.1)
        running.server.should_exit = True
        status, headers, body = read_response(sock, bytearray())
        assert (status, body) == (200, b"/slow/0.5")
        assert headers["connection"] == "close"
    running.thread.join(10)
    assert not running.thread.is_alive()


class RecordingTransport(asyncio.Transport):
    """Stands in for uvloop's transport: records each write that would be a send()."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8900), "peername": ("127.0.0.1", 5555)}.get(name)


def test_a_response_complete_in_one_send_is_one_write(app: App) -> None:
    """Head and body leave together: one system call and one TCP segment per reply."""

    async def scenario() -> list[bytes]:
        config = uvicorn.Config(app, timeout_keep_alive=5)
        state = uvicorn.server.ServerState()
        protocol = HttpProtocol(config, state, {})
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(request("/echo", b"one") + request("/echo", b"two"))
        while len(transport.writes) < 2:
            await asyncio.sleep(0)
        protocol.connection_lost(None)
        return transport.writes

    writes = asyncio.run(scenario())
    assert [w.split(b"\r\n\r\n")[1] for w in writes] == [b"one", b"two"]
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") for w in writes)
