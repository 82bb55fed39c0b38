"""Metering: one row per invocation, written in batches on a sqlite3 thread, each batch
one statement (store/writer.json_insert: executemany would cost the event loop a GIL
handoff per row)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nimbus.models import InvocationRecord
from nimbus.store.sqlite import Database
from nimbus.store.writer import SqliteThread, json_insert, json_rows
from nimbus.tasks import cancel_and_wait

log = logging.getLogger("nimbus.store")
COLUMNS = (
    "account_id",
    "request_id",
    "function",
    "version",
    "start",
    "duration_ms",
    "billed_ms",
    "memory_mb",
    "max_memory_mb",
    "gb_seconds",
    "init_ms",
    "cold",
    "outcome",
)
_INSERT = json_insert("invocations", COLUMNS)


class MeteringWriter:
    """Batches invocation records into one transaction every `interval_s` (the hot path
    never waits for SQLite)."""

    def __init__(self, db: Database, interval_s: float = 0.05) -> None:
        self._writer = SqliteThread(db, "metering")
        self._pending: list[tuple[Any, ...]] = []
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def record(self, r: InvocationRecord) -> None:
        self._pending.append(
            (
                r.account,
                r.request_id,
                r.function,
                r.version,
                r.start,
                r.duration_ms,
                r.billed_ms,
                r.memory_mb,
                r.max_memory_mb,
                r.gb_seconds,
                r.init_ms,
                r.cold,
                r.outcome,
            )
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await self._writer.run(lambda c: c.execute(_INSERT, json_rows(batch)))
        except Exception:
            log.exception("could not store %d metering records; will retry", len(batch))
            self._pending[:0] = batch

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        await self.flush()
        await self._writer.close()
