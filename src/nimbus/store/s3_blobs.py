"""Object bytes on disk. Files are named by a random id, never by key, so no key (any
Unicode, '..', a leading '/') can reach outside the data directory.

A write goes to a staging file (same filesystem), is fsynced, and is renamed into blobs/
when its metadata is committed; or (PutObject) straight to its final name in blobs/
(`reserve`), adopted in place: no rename (and on a journaling filesystem the file's fsync
carries its new directory entry along, so the directory's fsync has little left to do).
Either way the commit comes last: a crash leaves at worst an unreferenced file, removed at
the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

READ_CHUNK = 1024 * 1024
_WRITE_BATCH = 1024 * 1024  # bytes gathered before one write (in a worker thread)


class BlobFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.staging = root / "staging"
        self.blobs.mkdir(parents=True, exist_ok=True)
        made = False
        for i in range(256):  # every blob directory exists: a write never has to make one
            with contextlib.suppress(FileExistsError):
                (self.blobs / f"{i:02x}").mkdir()
                made = True
        if made:
            _fsync_dir(self.blobs)
        # Staging holds in-flight writes only: nothing is in flight at start.
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        self._unsynced: set[Path] = set()  # blob directories with entries not yet fsynced
        self._lock = threading.Lock()

    def staging_path(self) -> Path:
        """A fresh, unused path in the staging directory (same filesystem as the blobs)."""
        return self.staging / f"{uuid.uuid4().hex}.part"

    def path(self, blob: str) -> Path:
        if not blob.isalnum():  # blob names are uuid hex: anything else is corruption
            raise ValueError(f"bad blob name {blob!r}")
        return self.blobs / blob[:2] / blob

    @staticmethod
    def new_name() -> str:
        return uuid.uuid4().hex

    def reserve(self) -> Path:
        """A fresh path in blobs/ to write an object at: `adopt` takes it in place."""
        return self.path(self.new_name())

    def name_of(self, path: Path) -> str | None:
        """The blob name of a `reserve()`d path; None for any other path."""
        return path.name if path.parent.parent == self.blobs and path.name.isalnum() else None

    def adopt(self, staged: Path, blob: str, synced: bool = False) -> None:
        """Fsync `staged` (unless `synced` already) and move it into blobs/ as `blob`
        (blocking: call in a thread; no I/O for a synced file already in place). The entry
        is durable once `sync_dirs()` ran: the store does that once per group commit,
        before the commit."""
        target = self.path(blob)
        if not synced:
            fd = os.open(staged, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if staged != target:
            os.replace(staged, target)
        with self._lock:
            self._unsynced.add(target.parent)

    def sync_dirs(self) -> None:
        """Fsync the directories that gained blobs since the last call (blocking). One
        journal commit covers them all: the first fsync does the work."""
        with self._lock:  # adopt() runs in other threads meanwhile
            dirs, self._unsynced = self._unsynced, set()
        for path in dirs:
            _fsync_dir(path)

    def all_blobs(self) -> set[str]:
        """The names of every blob file (blocking)."""
        return {path.name for path in self.blobs.glob("*/*") if path.is_file()}

    def remove(self, blob: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(blob).unlink()

    def read(self, blob: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a blob at once (blocking: small objects, one thread trip)."""
        with open(self.path(blob), "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)

    async def open(self, blob: str) -> BinaryIO:
        """An open handle: a concurrent overwrite that unlinks the file cannot cut a read
        that already has it short. FileNotFoundError if it is gone already."""
        return await asyncio.to_thread(open, self.path(blob), "rb")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def read_chunks(
    handle: BinaryIO, start: int = 0, end: int | None = None
) -> AsyncIterator[bytes]:
    """Bytes [start, end) of an open blob, a chunk at a time; closes the handle."""
    try:
        await asyncio.to_thread(handle.seek, start)
        left = None if end is None else end - start
        while left is None or left > 0:
            size = READ_CHUNK if left is None else min(READ_CHUNK, left)
            chunk = await asyncio.to_thread(handle.read, size)
            if not chunk:
                break
            if left is not None:
                left -= len(chunk)
            yield chunk
    finally:
        handle.close()


class StagedWriter:
    """Writes a staging file from an async sequence of chunks, batching small chunks into
    ~1 MB writes done in a worker thread (the event loop never blocks on the disk). The file
    is created by the first write in that thread: a small body (under 1 MB) costs one trip,
    create + write + fsync + close."""

    def __init__(self, path: Path, observe: Callable[[bytes], None] | None = None) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._observe = observe  # runs in the worker thread too (hashing releases the GIL)
        self._pending: list[bytes] = []
        self._pending_size = 0

    async def write(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= _WRITE_BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            await asyncio.to_thread(self._write, data)

    def _write(self, data: bytes) -> None:
        if self._observe is not None:
            self._observe(data)
        self._opened().write(data)

    def _opened(self) -> BinaryIO:
        if self._file is None:
            self._file = open(self.path, "wb")  # noqa: SIM115 - closed in _finish()/discard()
        return self._file

    async def close(self) -> None:
        """Write what is left, fsync and close, in one trip to a worker thread."""
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        await asyncio.to_thread(self._finish, data)

    def _finish(self, data: bytes) -> None:
        if data:
            self._write(data)
        file = self._opened()  # an empty body is an empty file
        file.flush()
        os.fsync(file.fileno())
        file.close()

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
