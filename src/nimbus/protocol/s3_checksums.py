"""S3's object checksums: CRC32, CRC32C, CRC64NVME, SHA1, SHA256 (base64 of the big-endian
digest, as in x-amz-checksum-*), plus the MD5 that makes the ETag. Pure and incremental.

CRC32 comes from zlib (C). CRC32C and CRC64NVME have no stdlib implementation: the
`crc32c` package is used when installed, else a table-driven pure-Python loop (slow, about
10 MB/s, so only computed when a client asks for that algorithm).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from typing import Any, Protocol

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
HEADERS = {f"x-amz-checksum-{name.lower()}": name for name in ALGORITHMS}
_WIDTH = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


def _table(poly: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _table(0x82F63B78)
_CRC64_TABLE = _table(0x9A6C9329AC4BC9B5)


def _crc_update(table: list[int], mask: int) -> Callable[[int, bytes], int]:
    def update(crc: int, data: bytes) -> int:
        crc ^= mask
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        return crc ^ mask

    return update


_crc32c_py = _crc_update(_CRC32C_TABLE, 0xFFFFFFFF)
_crc64nvme = _crc_update(_CRC64_TABLE, 0xFFFFFFFFFFFFFFFF)


def _crc32c_impl() -> Callable[[int, bytes], int]:
    try:
        import crc32c  # type: ignore[import-not-found]
    except ImportError:
        return _crc32c_py
    fast: Callable[[bytes, int], int] = crc32c.crc32c
    return lambda crc, data: fast(data, crc)


_crc32c = _crc32c_impl()


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, update: Callable[[int, bytes], int], width: int) -> None:
        self._update, self._width, self.value = update, width, 0

    def update(self, data: bytes) -> None:
        self.value = self._update(self.value, data)

    def digest(self) -> bytes:
        return self.value.to_bytes(self._width, "big")


def new(algorithm: str) -> _Hash:
    if algorithm == "CRC32":
        return _Crc(lambda crc, data: zlib.crc32(data, crc), 4)
    if algorithm == "CRC32C":
        return _Crc(_crc32c, 4)
    if algorithm == "CRC64NVME":
        return _Crc(_crc64nvme, 8)
    hasher: Any = hashlib.new(algorithm.lower())
    return hasher  # type: ignore[no-any-return]


def well_formed(algorithm: str, value: str) -> bool:
    """A base64 value of the algorithm's digest length."""
    try:
        return len(base64.b64decode(value, validate=True)) == _WIDTH[algorithm]
    except ValueError:
        return False


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class Digests:
    """Every hash a body needs, fed once: MD5 always, SHA-256 when signed, and the asked
    x-amz-checksum-* algorithms."""

    def __init__(self, checksums: tuple[str, ...] = (), sha256: bool = False) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256() if sha256 or "SHA256" in checksums else None
        self.checksums: dict[str, _Hash] = {
            name: new(name) for name in checksums if name != "SHA256"
        }
        self.size = 0

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self.md5.update(data)
        if self.sha256 is not None:
            self.sha256.update(data)
        for hasher in self.checksums.values():
            hasher.update(data)

    def checksum(self, algorithm: str) -> str:
        if algorithm == "SHA256":
            assert self.sha256 is not None
            return b64(self.sha256.digest())
        return b64(self.checksums[algorithm].digest())
