"""The Python runtime's private channel: Runtime API semantics over a socketpair.

No HTTP parsing and no TCP: one write per event, one read per answer. The
socketpair is created by the engine and inherited by exactly one environment,
so no other environment can reach it.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

import orjson

from nimbus.engine.transport import Outcome, fail, settle
from nimbus.models import Invocation
from nimbus.runtime import channel

_PREFIX = channel.PREFIX


class ChannelTransport(asyncio.Protocol):
    def __init__(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._buffer = bytearray()
        self._ready: asyncio.Future[Outcome | None] = self._loop.create_future()
        self._pending: asyncio.Future[Outcome] | None = None
        self._transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, sock: socket.socket) -> ChannelTransport:
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        protocol = cls(sock)
        await loop.create_unix_connection(lambda: protocol, sock=sock)
        return protocol

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _PREFIX.size:
            kind, head_len, body_len = _PREFIX.unpack_from(self._buffer)
            end = _PREFIX.size + head_len + body_len
            if len(self._buffer) < end:
                return
            head = bytes(self._buffer[_PREFIX.size : _PREFIX.size + head_len])
            body = bytes(self._buffer[_PREFIX.size + head_len : end])
            del self._buffer[:end]
            self._dispatch(kind, orjson.loads(head) if head else {}, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort("runtime channel closed")

    def _dispatch(self, kind: bytes, header: dict[str, Any], body: bytes) -> None:
        if kind == channel.READY:
            settle(self._ready, None)
        elif kind == channel.INIT_ERROR:
            settle(self._ready, Outcome("init_error", body, error_type=header.get("type")))
        elif self._pending is not None and kind in (channel.RESPONSE, channel.ERROR):
            pending, self._pending = self._pending, None
            if kind == channel.RESPONSE:
                settle(pending, Outcome("response", body, header.get("ct", "application/json")))
            else:
                settle(pending, Outcome("error", body))

    # Transport
    def ready(self) -> asyncio.Future[Outcome | None]:
        return self._ready

    def invoke(self, invocation: Invocation) -> asyncio.Future[Outcome]:
        assert self._transport is not None and self._pending is None
        header: dict[str, Any] = {
            "id": invocation.request_id,
            "deadline": invocation.deadline_ms,
            "arn": invocation.invoked_arn,
        }
        if invocation.trace_id:
            header["trace"] = invocation.trace_id
        if invocation.client_context:
            header["cc"] = invocation.client_context
        if invocation.cognito_identity:
            header["ci"] = invocation.cognito_identity
        if invocation.tenant_id:
            header["tenant"] = invocation.tenant_id
        head = orjson.dumps(header)
        self._pending = self._loop.create_future()
        self._transport.write(
            _PREFIX.pack(channel.INVOKE, len(head), len(invocation.payload))
            + head
            + invocation.payload
        )
        return self._pending

    def abort(self, reason: str) -> None:
        fail(self._ready, reason)
        if self._pending is not None:
            fail(self._pending, reason)
            self._pending = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()
        else:
            self._sock.close()
