"""Nimbus' HTTP/1.1 protocol for uvicorn: httptools parsing, plain ASGI, little per request.

uvicorn's own httptools protocol does per request what Nimbus does not need: a
twelve-field cycle object and an asyncio.Event, a keep-alive timer armed and cancelled
per response, logger checks, and a write for the head and another for the body. This
protocol keeps uvicorn's Server (sockets, signals, lifespan, the Date header, graceful
shutdown) and its contract with protocols (`server_state.connections` and `.tasks`,
`shutdown()`); per request it builds one scope, one slotted cycle (http_cycle.py) and one
task, and a response complete in one `send` goes out as one write. Measured with
callgrind on `nimbus server`: 591k -> 545k instructions per warm Invoke (bench/README.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any
from urllib.parse import unquote

import httptools

from nimbus.http_cycle import STATUS_LINE, Cycle

log = logging.getLogger("nimbus.http")
HIGH_WATER = 65536  # request body bytes buffered before reading pauses


class HttpProtocol(asyncio.Protocol):
    """One connection. Constructed by uvicorn's Server as its `http` protocol class."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        received: bytes = b"",
    ) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.keep_alive_s = float(config.timeout_keep_alive)
        self.server_state = server_state
        self.connections: set[HttpProtocol] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.app_state = app_state
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.cycle: Cycle | None = None  # the request being read (or the last one)
        self.pipeline: deque[Cycle] = deque()  # requests waiting for the one before them
        self.read_paused = False
        self.write_paused = False
        self.drained: asyncio.Future[None] | None = None
        self.last_active = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect_continue = False
        self._received = received  # read by another process before it passed us the socket

    # connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.connections.add(self)
        self.transport = transport
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        self.last_active = self.loop.time()
        self._arm_idle_timer(self.keep_alive_s)
        if self._received:
            received, self._received = self._received, b""
            self.data_received(received)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        for cycle in (self.cycle, *self.pipeline):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        self._resume_writers()
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def eof_received(self) -> None:
        pass

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._resume_writers()

    def _resume_writers(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    async def drain(self) -> None:
        if self.drained is None:
            self.drained = self.loop.create_future()
        await self.drained

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close when idle, else after the current response."""
        cycle = self.cycle
        if cycle is None or (cycle.response_complete and not self.pipeline):
            self.transport.close()
        else:
            for waiting in (cycle, *self.pipeline):
                waiting.keep_alive = False

    # keep-alive: one timer per idle period, not one per response ---------------------------
    def _arm_idle_timer(self, delay: float) -> None:
        self.idle_timer = self.loop.call_later(delay, self._idle_check)

    def _idle_check(self) -> None:
        self.idle_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        busy = cycle is not None and not cycle.response_complete
        idle_for = self.loop.time() - self.last_active
        if not busy and idle_for >= self.keep_alive_s:
            self.transport.close()
        else:
            self._arm_idle_timer(self.keep_alive_s - idle_for if not busy else self.keep_alive_s)

    # parsing ------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no upgrades (WebSocket, h2c) here: the request is served as HTTP/1.1
        except httptools.HttpParserError:
            log.debug("invalid HTTP request", exc_info=True)
            self._send_400()

    def _send_400(self) -> None:
        msg = b"Invalid HTTP request received."
        self.transport.write(
            STATUS_LINE[400] + b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(msg), msg)
        )
        self.transport.close()

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect_continue = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace (RFC 9110 5.5 drops it)
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        url = self._url
        if url[:1] == b"/" and b"#" not in url:
            raw_path, _, query = url.partition(b"?")
        else:  # absolute-form (a proxy's request line) or a fragment: httptools knows them
            parsed = httptools.parse_url(url)
            raw_path, query = parsed.path or b"/", parsed.query or b""
        path = raw_path.decode("ascii")  # non-ASCII bytes: a parser error, 400
        version = parser.get_http_version()
        keep_alive = parser.should_keep_alive()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": "http",
            "root_path": "",
            "headers": self._headers,
            "state": self.app_state.copy(),
            "method": parser.get_method().decode("ascii"),
            "path": unquote(path) if "%" in path else path,
            "raw_path": raw_path,
            "query_string": query,
        }
        previous = self.cycle
        cycle = self.cycle = Cycle(self, scope, keep_alive, self._expect_continue)
        if previous is None or (previous.response_complete and not self.pipeline):
            self._start(cycle)
        else:  # pipelined behind a response still being produced
            self.pipeline.append(cycle)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return  # a body the app answered without reading: parsed past, dropped
        cycle.body += body
        if len(cycle.body) > HIGH_WATER:
            self.pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.wake()

    # requests -----------------------------------------------------------------------------
    def _start(self, cycle: Cycle) -> None:
        task = self.loop.create_task(cycle.run(self.app))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def response_complete(self, cycle: Cycle) -> None:
        self.last_active = self.loop.time()
        if not cycle.keep_alive:
            self.transport.close()
            return
        if self.transport.is_closing():
            return
        if self.pipeline:
            self._start(self.pipeline.popleft())
            if not self.pipeline:
                self.resume_reading()
        else:
            self.resume_reading()


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None
