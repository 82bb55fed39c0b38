"""The durable queue of asynchronous invocations, with group commit.

`enqueue` returns only once the event is committed (WAL) — the 202 follows — but many
concurrent enqueues share one transaction, so durability costs one commit per batch,
not per event. The batch goes through a dedicated writer thread (store/writer.py: one
thread hop per transaction, not one per statement as through aiosqlite).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.sqlite import insert as upsert

from nimbus.store.schema import async_events
from nimbus.store.schema import event_invoke_configs as t
from nimbus.store.sqlite import Database
from nimbus.store.writer import SqliteThread, json_insert, json_rows, transaction
from nimbus.tasks import cancel_and_wait

log = logging.getLogger("nimbus.store")
_COLUMNS = (
    "id", "account_id", "function", "qualifier", "payload", "received", "attempts", "due",
    "last_error",
)  # fmt: skip
_INSERT = json_insert("async_events", _COLUMNS)
_DELETE = "DELETE FROM async_events WHERE id IN (SELECT value FROM json_each(?))"
_DUE = f"SELECT {', '.join(_COLUMNS)} FROM async_events WHERE due <= ? ORDER BY due LIMIT ?"
_RETRY = "UPDATE async_events SET attempts = ?, due = ?, last_error = ? WHERE id = ?"


@dataclass
class AsyncEvent:
    id: str
    account_id: str
    function: str
    qualifier: str | None
    payload: bytes
    received: float
    attempts: int
    due: float
    last_error: str | None = None

    def row(self) -> tuple[Any, ...]:
        """The values in _COLUMNS order."""
        return (
            self.id,
            self.account_id,
            self.function,
            self.qualifier,
            base64.b64encode(self.payload).decode(),
            self.received,
            self.attempts,
            self.due,
            self.last_error,
        )


def _raw_event(row: tuple[Any, ...]) -> AsyncEvent:
    """From a row of _COLUMNS."""
    event_id, account, function, qualifier, payload, received, attempts, due, error = row
    return AsyncEvent(
        event_id,
        account,
        function,
        qualifier,
        base64.b64decode(payload),
        received,
        attempts,
        due,
        error,
    )


class EventQueue:
    """Accepted events: committed before `enqueue` returns, handed out by `due`.

    Events this process committed are also kept in memory (`_ready`) and handed out from
    there, so a busy dispatcher does not read back from SQLite what it just wrote. The
    table is still read for what memory does not hold (events from before a restart,
    retries that come due), at most every `reread_s` while there is in-memory work, and
    on every call when there is none."""

    def __init__(self, db: Database, reread_s: float = 0.5) -> None:
        self.db = db
        self.writer = SqliteThread(db, "async-events")
        self._pending: list[tuple[AsyncEvent, asyncio.Future[None]]] = []
        self._finished: list[str] = []  # ids of events that ran: deleted with the next commit
        self._deleting: set[str] = set()  # finished, not yet deleted: never handed out again
        self._ready: dict[str, AsyncEvent] = {}  # committed, due, not handed out yet
        self._reread_s = reread_s
        self._last_read = float("-inf")
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        await cancel_and_wait(self._flusher)
        await self._flush()
        await self.writer.close()

    async def enqueue(self, event: AsyncEvent) -> None:
        """Durable when this returns."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, future))
        self._wake.set()
        await future

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._pending or self._finished:
            batch, self._pending = self._pending, []
            finished, self._finished = self._finished, []
            try:
                # One transaction for everything accepted and everything finished meanwhile.
                rows = [e.row() for e, _ in batch]
                await self.writer.run(functools.partial(_commit, rows=rows, gone=finished))
            except Exception as error:  # nothing was accepted: every caller gets the error
                log.exception("could not store %d asynchronous events", len(batch))
                self._finished[:0] = finished  # deletes are retried with the next batch
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self._deleting.difference_update(finished)
            for event, future in batch:
                self._ready[event.id] = event
                if not future.done():
                    future.set_result(None)

    async def due(self, now: float, limit: int, exclude: set[str]) -> list[AsyncEvent]:
        """Events due now, minus `exclude` (running) and those finished but not yet deleted:
        first the ones committed here, then (see the class) rows read back on the writer
        thread (one hop, after every commit queued before it)."""
        skip = exclude | self._deleting
        taken: list[AsyncEvent] = []
        while self._ready and len(taken) < limit:
            event = self._ready.pop(next(iter(self._ready)))
            if event.id not in skip and event.due <= now:
                taken.append(event)
        if len(taken) >= limit or (taken and now - self._last_read < self._reread_s):
            return taken
        self._last_read = now
        skip |= {event.id for event in taken}

        def read(c: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return c.execute(_DUE, (now, limit + len(skip))).fetchall()

        for row in await self.writer.run(read):
            if len(taken) >= limit:
                break
            # A row committed while this read waited comes back here after its event went
            # into _ready (the writer thread settles jobs in order, and the flusher's task
            # is woken first): it is handed out from here, and taken out of _ready.
            if row[0] not in skip:
                self._ready.pop(row[0], None)
                skip.add(row[0])
                taken.append(_raw_event(row))
        return taken

    async def next_due(self) -> float | None:
        def read(c: sqlite3.Connection) -> float | None:
            due: float | None = c.execute("SELECT min(due) FROM async_events").fetchall()[0][0]
            return due

        return await self.writer.run(read)

    def done(self, ids: list[str]) -> None:
        """The events ran: delete them with the next group commit (a crash before it only
        means they run again: at least once)."""
        self._finished.extend(ids)
        self._deleting.update(ids)
        self._wake.set()

    async def retry_at(self, event: AsyncEvent, due: float, error: str) -> None:
        values = (event.attempts, due, error, event.id)

        def write(c: sqlite3.Connection) -> None:
            transaction(c, lambda c: c.execute(_RETRY, values))

        await self.writer.run(write)

    async def count(self) -> int:
        async with self.db.engine.connect() as c:
            return int(await c.scalar(select(func.count()).select_from(async_events)) or 0)


def _commit(c: sqlite3.Connection, *, rows: list[tuple[Any, ...]], gone: list[str]) -> None:
    """On the writer thread: new events in, finished ones out, in one transaction."""

    def work(c: sqlite3.Connection) -> None:
        if rows:
            c.execute(_INSERT, json_rows(rows))
        if gone:
            c.execute(_DELETE, json_rows(gone))

    transaction(c, work)


class EventInvokeConfigs:
    """Put/Get/List/Delete FunctionEventInvokeConfig rows (the config is the AWS shape)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Every asynchronous event reads its function's config: keep them (write-through;
        # one instance per node, shared by the API and the dispatcher).
        self._cache: dict[tuple[str, str, str], dict[str, Any] | None] = {}

    async def put(
        self, account: str, function: str, qualifier: str, config: dict[str, Any]
    ) -> None:
        self._cache.pop((account, function, qualifier), None)
        statement = upsert(t).values(
            account_id=account,
            function=function,
            qualifier=qualifier,
            config=orjson.dumps(config).decode(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[t.c.account_id, t.c.function, t.c.qualifier],
            set_={"config": statement.excluded.config},
        )
        async with self.db.engine.begin() as c:
            await c.execute(statement)

    async def get(self, account: str, function: str, qualifier: str) -> dict[str, Any] | None:
        key = (account, function, qualifier)
        if key in self._cache:
            cached = self._cache[key]
            return dict(cached) if cached is not None else None
        found = await self._load(account, function, qualifier)
        self._cache[key] = found
        return dict(found) if found is not None else None

    async def _load(self, account: str, function: str, qualifier: str) -> dict[str, Any] | None:
        async with self.db.engine.connect() as c:
            raw = await c.scalar(
                select(t.c.config).where(
                    t.c.account_id == account, t.c.function == function, t.c.qualifier == qualifier
                )
            )
        return orjson.loads(raw) if raw else None

    async def list(self, account: str, function: str) -> list[dict[str, Any]]:
        async with self.db.engine.connect() as c:
            rows = (
                (
                    await c.execute(
                        select(t.c.config)
                        .where(t.c.account_id == account, t.c.function == function)
                        .order_by(t.c.qualifier)
                    )
                )
                .scalars()
                .all()
            )
        return [orjson.loads(r) for r in rows]

    async def delete(self, account: str, function: str, qualifier: str | None = None) -> bool:
        self._cache = {k: v for k, v in self._cache.items() if k[:2] != (account, function)}
        query = delete(t).where(t.c.account_id == account, t.c.function == function)
        if qualifier is not None:
            query = query.where(t.c.qualifier == qualifier)
        async with self.db.engine.begin() as c:
            result = await c.execute(query)
        return result.rowcount > 0
