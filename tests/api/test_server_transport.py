"""The server's write-coalescing transport: one socket write per loop iteration."""

from __future__ import annotations

import asyncio
from typing import Any

from nimbus.server import _CoalescingTransport


class RecordingTransport:
    """Stands in for uvloop's transport: records each write that would be a send()."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8900) if name == "sockname" else default


async def _iteration() -> None:
    await asyncio.sleep(0)


def test_head_and_body_of_a_response_become_one_write() -> None:
    async def scenario() -> None:
        real = RecordingTransport()
        transport = _CoalescingTransport(real)  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        transport.write(b"null")
        assert real.writes == [] and transport.get_write_buffer_size() == 42
        await _iteration()
        assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnull"]
        transport.write(b"next")
        await _iteration()
        assert real.writes[1:] == [b"next"]
        assert transport.get_extra_info("sockname") == ("127.0.0.1", 8900)  # delegated

    asyncio.run(scenario())


def test_close_flushes_and_abort_drops() -> None:
    async def scenario() -> None:
        real = RecordingTransport()
        transport = _CoalescingTransport(real)  # type: ignore[arg-type]
        transport.write(b"last words")
        transport.close()
        assert real.writes == [b"last words"] and real.closed
        other = RecordingTransport()
        transport = _CoalescingTransport(other)  # type: ignore[arg-type]
        transport.write(b"never sent")
        transport.abort()
        await _iteration()
        assert other.writes == [] and other.aborted

    asyncio.run(scenario())


def test_large_writes_go_out_at_once() -> None:
    """A streamed body must reach the real transport (and its flow control) as it is
    written, not pile up until the loop turns."""

    async def scenario() -> None:
        real = RecordingTransport()
        transport = _CoalescingTransport(real)  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        chunk = b"x" * _CoalescingTransport.LARGE
        transport.write(chunk)
        assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n" + chunk]
        transport.write(chunk)
        assert real.writes[1:] == [chunk] and transport.get_write_buffer_size() == 0
        await _iteration()  # the flush scheduled by the first write finds nothing left
        assert len(real.writes) == 2

    asyncio.run(scenario())
