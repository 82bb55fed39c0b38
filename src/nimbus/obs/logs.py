"""Lambda's platform log lines (text format) and a simple per-function log store."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections import deque
from pathlib import Path

import orjson

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


def json_start_line(request_id: str, version: str) -> str:
    """LoggingConfig.LogFormat=JSON: the system records are JSON too."""
    record = {"requestId": request_id, "version": version}
    return (
        orjson.dumps({"time": iso_now(), "type": "platform.start", "record": record}).decode()
        + "\n"
    )


def json_report_line(record: InvocationRecord) -> str:
    metrics: dict[str, float | int] = {
        "durationMs": round(record.duration_ms, 2),
        "billedDurationMs": record.billed_ms,
        "memorySizeMB": record.memory_mb,
        "maxMemoryUsedMB": record.max_memory_mb,
    }
    if record.init_ms is not None:
        metrics["initDurationMs"] = round(record.init_ms, 2)
    status = (
        "success"
        if record.outcome == "success"
        else ("timeout" if record.outcome == "timeout" else "error")
    )
    body = {"requestId": record.request_id, "metrics": metrics, "status": status}
    return (
        orjson.dumps({"time": iso_now(), "type": "platform.report", "record": body}).decode() + "\n"
    )


def timeout_line(request_id: str, timeout_s: float) -> str:
    return f"{iso_now()} {request_id} Task timed out after {timeout_s:.2f} seconds\n"


def exit_lines(request_id: str, reason: str, error_type: str) -> str:
    return f"RequestId: {request_id} Error: {reason}\n{error_type}\n"


def new_stream_name(version: str) -> str:
    """`2024/01/31/[$LATEST]0123abcd...`: one stream per execution environment."""
    day = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{uuid.uuid4().hex}"


GROUP_NAME_FILE = ".group"


class LogStore:
    """Keeps every function's log events, one file per stream: `<ms timestamp>\t<line>`.

    Files live in <dir>/<group with / as _>/<stream with / as _>.log; the CloudWatch Logs
    API (api/logs.py) reads them back. Recent lines are also kept in memory.
    """

    def __init__(self, directory: Path | None, keep: int = 2000) -> None:
        self._dir = directory
        self._recent: dict[str, deque[str]] = {}
        self._keep = keep
        self._lock = threading.Lock()
        self._fds: dict[tuple[str, str], int] = {}  # open stream files, oldest first
        self._max_open = 256

    def _folder(self, group: str) -> Path | None:
        return self._dir / group.strip("/").replace("/", "_") if self._dir else None

    def write(self, group: str, stream: str, text: str) -> None:
        if not text:
            return
        lines = text.splitlines()
        with self._lock:
            recent = self._recent.get(group)
            if recent is None:
                recent = self._recent[group] = deque(maxlen=self._keep)
            recent.extend(lines)
        key = (group, stream)
        fd = self._fds.get(key)
        if fd is None:
            folder = self._folder(group)
            if folder is None:
                return
            folder.mkdir(parents=True, exist_ok=True)
            name_file = folder / GROUP_NAME_FILE
            if not name_file.exists():  # folder names lose '_' vs '/': keep the real name
                name_file.write_text(group)
            fd = os.open(
                folder / (stream.replace("/", "_") + ".log"),
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                0o600,
            )
            with self._lock:
                self._fds[key] = fd
                while len(self._fds) > self._max_open:  # close the least recently opened
                    os.close(self._fds.pop(next(iter(self._fds))))
        stamp = f"{int(time.time() * 1000)}\t"
        os.write(fd, (stamp + f"\n{stamp}".join(lines) + "\n").encode())

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def recent(self, group: str) -> list[str]:
        with self._lock:
            return [line + "\n" for line in self._recent.get(group, ())]

    def groups(self) -> list[str]:
        if self._dir is None or not self._dir.exists():
            return []
        return sorted(
            (p / GROUP_NAME_FILE).read_text()
            for p in self._dir.iterdir()
            if (p / GROUP_NAME_FILE).is_file()
        )

    def streams(self, group: str) -> list[tuple[str, Path]]:
        """(stream name, file) of a group, oldest first."""
        folder = self._folder(group)
        if folder is None or not folder.exists():
            return []
        files = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
        return [(_stream_name(p.stem), p) for p in files]

    def events(
        self,
        group: str,
        start_ms: int = 0,
        end_ms: int | None = None,
        streams: set[str] | None = None,
    ) -> list[tuple[int, str, str]]:
        """(timestamp ms, stream, message) of a group in time order."""
        found: list[tuple[int, str, str]] = []
        for name, path in self.streams(group):
            if streams and name not in streams:
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    stamp, _, message = line.rstrip("\n").partition("\t")
                    ms = int(stamp) if stamp.isdigit() else 0
                    if ms >= start_ms and (end_ms is None or ms <= end_ms):
                        found.append((ms, name, message))
        found.sort(key=lambda e: e[0])
        return found


def _stream_name(stem: str) -> str:
    """Undo the file-name mangling of `2024/01/31/[$LATEST]abc...`."""
    parts = stem.split("_", 3)
    return "/".join(parts) if len(parts) == 4 else stem
