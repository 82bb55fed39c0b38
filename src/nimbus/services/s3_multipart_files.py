"""The blocking file work of multipart uploads (run in worker threads): fsyncing a received
part, copying a range of an object into a part, concatenating parts into the object."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from nimbus.protocol import s3_checksums
from nimbus.services import s3_multipart_checksums as sums

BATCH = 1024 * 1024  # bytes read and hashed at a time


def finish_part(path: Path, algorithm: str | None, checksums: Mapping[str, str]) -> str | None:
    """Fsync a received part; its checksum of `algorithm`, computed from the file when the
    request did not carry it (blocking)."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
        directory = os.open(path.parent, os.O_RDONLY)  # the new name survives a crash too
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        if algorithm is None or algorithm in checksums:
            return checksums.get(algorithm) if algorithm else None
        hasher = sums.hasher({algorithm})
        while data := f.read(BATCH):
            hasher.update(data)
        return hasher.checksum(algorithm)


def write_batch(handle: BinaryIO, data: bytes, hasher: s3_checksums.Digests) -> None:
    hasher.update(data)  # hashlib and zlib release the GIL on large buffers
    handle.write(data)


def sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def copy_range(
    source: BinaryIO, path: Path, start: int, end: int, hasher: s3_checksums.Digests
) -> None:
    """UploadPartCopy: bytes [start, end) of `source` into a new file (hashed: blocking)."""
    source.seek(start)
    with open(path, "xb") as out:
        left = end - start
        while left > 0:
            data = source.read(min(BATCH, left))
            if not data:
                break
            left -= len(data)
            write_batch(out, data, hasher)
        sync(out)


def concatenate(sources: list[Path], target: Path) -> None:
    """The parts, one after another, into `target` (in the kernel; blocking)."""
    with open(target, "xb") as out:
        for source in sources:
            with open(source, "rb") as part:
                left = os.fstat(part.fileno()).st_size
                try:
                    while left > 0:
                        copied = os.copy_file_range(part.fileno(), out.fileno(), left)
                        if copied == 0:
                            break
                        left -= copied
                except OSError:  # a filesystem without it: copy through a buffer
                    shutil.copyfileobj(part, out, BATCH)
        sync(out)
