"""Connections handed between the processes of a server, over Unix sockets: the
primary deals new connections out to its cells, a cell gives back those it won't serve.

A handoff is a 4-byte length sent with the connection's descriptor (SCM_RIGHTS), then
that many bytes: what the cell read from the connection and nobody answered. The primary
adopts the socket as if it had accepted it, with those bytes as the first it received.
A handoff happens once or twice in a connection's life, so neither side is tuned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nimbus.tasks import Background

log = logging.getLogger("nimbus.cells")
FRAME = struct.Struct(">I")


class HandoffSender:
    """One process' way to another's HandoffReceiver: handoffs in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._lock = asyncio.Lock()
        self._tasks = Background()

    @property
    def ready(self) -> bool:
        """Connected (and not failed since): connections can be sent now."""
        return self._sock is not None

    async def connect(self, timeout_s: float = 30.0) -> None:
        """Until the receiver accepts (it may still be starting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, str(self.path))
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)
            else:
                self._sock = sock

    def pass_connection(self, fd: int, data: bytes) -> None:
        self._tasks.spawn(self._send(fd, data))

    async def _send(self, fd: int, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with self._lock:
                if self._sock is None:
                    await self.connect(timeout_s=0)
                assert self._sock is not None
                while True:
                    try:
                        socket.send_fds(self._sock, [FRAME.pack(len(data))], [fd])
                        break
                    except BlockingIOError:
                        await asyncio.sleep(0.001)
                await loop.sock_sendall(self._sock, data)
        except OSError:
            log.exception("could not hand a connection to %s; it is closed", self.path)
            if self._sock is not None:
                self._sock.close()
                self._sock = None
        finally:
            os.close(fd)

    async def close(self) -> None:
        await self._tasks.wait()
        if self._sock is not None:
            self._sock.close()


class HandoffReceiver:
    """Adopts each connection it is sent with `adopt(sock, first_bytes)`."""

    def __init__(self, path: Path, adopt: Callable[[socket.socket, bytes], Any]) -> None:
        self.path = path
        self.adopt = adopt
        self._server: socket.socket | None = None
        self._tasks = Background()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        os.chmod(self.path, 0o600)
        server.listen(64)
        server.setblocking(False)
        self._server = server
        self._tasks.spawn(self._accept_forever(server))

    async def _accept_forever(self, server: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            cell, _ = await loop.sock_accept(server)
            self._tasks.spawn(self._serve(cell))

    async def _serve(self, cell: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        with cell:
            while True:
                readable = loop.create_future()
                loop.add_reader(cell.fileno(), readable.set_result, None)
                try:
                    await readable
                finally:
                    loop.remove_reader(cell.fileno())
                try:
                    head, fds, _, _ = socket.recv_fds(cell, FRAME.size, 1)
                except BlockingIOError:
                    continue
                if not head:
                    return  # the cell went away
                size = FRAME.unpack(await _exactly(loop, cell, FRAME.size, head))[0]
                data = await _exactly(loop, cell, size)
                for fd in fds[1:]:
                    os.close(fd)
                if fds:
                    self.adopt(socket.socket(fileno=fds[0]), data)

    async def close(self) -> None:
        await self._tasks.cancel_all()
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def _exactly(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int, start: bytes = b""
) -> bytes:
    data = bytearray(start)
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise ConnectionError("the cell closed its handoff connection mid-frame")
        data += chunk
    return bytes(data)
