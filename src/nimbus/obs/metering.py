"""Metering: one record per invocation, kept in memory and appended to a JSON-lines file."""

from __future__ import annotations

import os
import threading
from collections import deque
from pathlib import Path

import msgspec

from nimbus.models import InvocationRecord

_encoder = msgspec.json.Encoder()


class MeteringLog:
    def __init__(self, path: Path | None, keep: int = 10_000) -> None:
        self._path = path
        self._recent: deque[InvocationRecord] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._fd = -1
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def record(self, record: InvocationRecord) -> None:
        with self._lock:
            self._recent.append(record)
        if self._fd >= 0:
            os.write(self._fd, _encoder.encode(record) + b"\n")

    def recent(self) -> list[InvocationRecord]:
        with self._lock:
            return list(self._recent)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
