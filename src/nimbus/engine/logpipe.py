"""Capture an environment's stdout/stderr (one pipe) and cut it per invocation."""

from __future__ import annotations

import asyncio
import contextlib
import os

MAX_CAPTURE = 1 << 20  # per invocation; beyond it the middle is dropped, the tail kept


class LogPipe:
    """Reads continuously (so a chatty function never blocks on a full pipe)."""

    def __init__(self, read_fd: int) -> None:
        self._fd = read_fd
        os.set_blocking(read_fd, False)
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._dropped = 0
        self._loop.add_reader(read_fd, self._on_readable)
        self._open = True

    def _on_readable(self) -> None:
        self._read_available()

    def _read_available(self) -> None:
        while self._open:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._stop_reading()
                return
            self._buffer += chunk
            if len(self._buffer) > MAX_CAPTURE:
                excess = len(self._buffer) - MAX_CAPTURE
                del self._buffer[:excess]
                self._dropped += excess

    def take(self, drain: bool = True) -> str:
        """Everything written since the last take (reads what is already in the pipe first:
        output written before the runtime answered is always in the kernel buffer by then).

        drain=False skips that read when the runtime has just answered over its channel:
        the output was written before the answer, so the event loop saw the pipe readable
        no later than the channel, and ran the reader before resuming the caller (both
        uvloop and asyncio run every ready fd's callback before the tasks they wake)."""
        if drain:
            self._read_available()
        data = bytes(self._buffer)
        self._buffer.clear()
        prefix = ""
        if self._dropped:
            prefix = f"[nimbus: {self._dropped} bytes of output dropped]\n"
            self._dropped = 0
        text = data.decode(errors="replace")
        if text and not text.endswith("\n"):
            text += "\n"
        return prefix + text

    def _stop_reading(self) -> None:
        if self._open:
            self._open = False
            self._loop.remove_reader(self._fd)

    def close(self) -> None:
        self._stop_reading()
        with contextlib.suppress(OSError):
            os.close(self._fd)
