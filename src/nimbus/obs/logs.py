"""Lambda's platform log lines (text format) and a simple per-function log store."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections import deque
from pathlib import Path

from nimbus.models import InvocationRecord


def iso_now() -> str:
    """`2024-01-01T00:00:00.000Z`, the timestamp AWS prints in platform lines."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def report_line(record: InvocationRecord) -> str:
    line = (
        f"REPORT RequestId: {record.request_id}\tDuration: {record.duration_ms:.2f} ms\t"
        f"Billed Duration: {record.billed_ms} ms\tMemory Size: {record.memory_mb} MB\t"
        f"Max Memory Used: {record.max_memory_mb} MB\t"
    )
    if record.init_ms is not None:
        line += f"Init Duration: {record.init_ms:.2f} ms\t"
    return line + "\n"


def timeout_line(request_id: str, timeout_s: float) -> str:
    return f"{iso_now()} {request_id} Task timed out after {timeout_s:.2f} seconds\n"


def exit_lines(request_id: str, reason: str, error_type: str) -> str:
    return f"RequestId: {request_id} Error: {reason}\n{error_type}\n"


def new_stream_name(version: str) -> str:
    """`2024/01/31/[$LATEST]0123abcd...`: one stream per execution environment."""
    day = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{uuid.uuid4().hex}"


class LogStore:
    """Keeps every function's log: appended to files, recent lines also in memory.

    Files: <dir>/<group with / as _>/<stream with / as _>.log; good enough until
    the logs service (CloudWatch Logs API) takes over.
    """

    def __init__(self, directory: Path | None, keep: int = 2000) -> None:
        self._dir = directory
        self._recent: dict[str, deque[str]] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def write(self, group: str, stream: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            recent = self._recent.setdefault(group, deque(maxlen=self._keep))
            recent.extend(text.splitlines(keepends=True))
        if self._dir is not None:
            folder = self._dir / group.strip("/").replace("/", "_")
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / (stream.replace("/", "_") + ".log")
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)

    def recent(self, group: str) -> list[str]:
        with self._lock:
            return list(self._recent.get(group, ()))
