"""SQS' durable log in SQLite: queues, and the messages they hold.

Queues keep their hot state in memory (services/sqs_queue.py); this store is what
survives a crash. Sends are group-committed (`insert` returns once the rows are in a
committed transaction shared with every concurrent sender); deletes, receive counts and
moves to a dead-letter queue are written behind in the next transaction: losing one
on a crash only means a message is delivered again (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from nimbus.store.sqlite import Database

log = logging.getLogger("nimbus.store.sqs")

MESSAGE_COLUMNS = (
    "id", "qid", "seq", "body", "attributes", "sent", "sender", "visible_at",
    "group_id", "dedup_id", "receive_count", "first_receive", "extra",
)  # fmt: skip
_INSERT = (
    f"INSERT OR REPLACE INTO sqs_messages ({', '.join(MESSAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in MESSAGE_COLUMNS)})"
)
_DELETE = "DELETE FROM sqs_messages WHERE id = ?"
_RECEIVED = "UPDATE sqs_messages SET receive_count = ?, first_receive = ? WHERE id = ?"
_MOVE = "UPDATE sqs_messages SET qid = ?, seq = ?, receive_count = 0, extra = ? WHERE id = ?"
_IDLE_FLUSH_S = 0.05  # write-behind work waits this long to share a transaction


@dataclass(frozen=True)
class QueueRow:
    qid: str
    account_id: str
    name: str
    attributes: str
    tags: str
    created: float
    modified: float


@dataclass
class _Pending:
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    received: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    moves: list[tuple[str, int, str | None, str]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.inserts or self.received or self.moves or self.deletes)


class SqsStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._urgent = False  # a sender waits: no idle delay
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()

    # queues (rare: one transaction each) ---------------------------------------------
    async def load(self) -> tuple[list[QueueRow], list[Any]]:
        async with self.db.engine.connect() as c:
            queues = (await c.exec_driver_sql("SELECT * FROM sqs_queues")).all()
            messages = (
                await c.exec_driver_sql(
                    f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM sqs_messages ORDER BY qid, seq"
                )
            ).all()
        rows = [
            QueueRow(q.qid, q.account_id, q.name, q.attributes, q.tags, q.created, q.modified)
            for q in queues
        ]
        return rows, list(messages)

    async def create_queue(self, row: QueueRow) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(
                text(
                    "INSERT INTO sqs_queues (qid, account_id, name, attributes, tags, created, "
                    "modified) VALUES (:qid, :account_id, :name, :attributes, :tags, :created, "
                    ":modified)"
                ),
                row.__dict__,
            )

    async def update_queue(self, qid: str, attributes: str, tags: str, modified: float) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(
                text(
                    "UPDATE sqs_queues SET attributes = :a, tags = :t, modified = :m WHERE qid = :q"
                ),
                {"a": attributes, "t": tags, "m": modified, "q": qid},
            )

    async def delete_queue(self, qid: str) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(text("DELETE FROM sqs_queues WHERE qid = :q"), {"q": qid})
            await c.execute(text("DELETE FROM sqs_messages WHERE qid = :q"), {"q": qid})

    # messages ------------------------------------------------------------------------
    async def insert(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows in MESSAGE_COLUMNS order; durable when this returns."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.inserts.extend(rows)
        self._pending.waiters.append(future)
        self._urgent = True
        self._wake.set()
        await future

    def received(self, message_id: str, count: int, first_receive: float | None) -> None:
        self._pending.received[message_id] = (count, first_receive)
        self._wake.set()

    def move(self, message_id: str, qid: str, seq: int, extra: str | None) -> None:
        """To a dead-letter queue: same id, body and attributes; receive count restarts."""
        self._pending.received.pop(message_id, None)
        self._pending.moves.append((qid, seq, extra, message_id))
        self._wake.set()

    def delete(self, message_ids: list[str]) -> None:
        for message_id in message_ids:
            self._pending.received.pop(message_id, None)
        self._pending.deletes.extend(message_ids)
        self._wake.set()

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            if not self._urgent:
                await asyncio.sleep(_IDLE_FLUSH_S)
            self._wake.clear()
            self._urgent = False
            await self.flush()

    async def flush(self) -> None:
        while not self._pending.empty():
            batch, self._pending = self._pending, _Pending()
            try:
                async with self.db.engine.begin() as c:
                    # Order matters: a message is inserted before anything else touches it.
                    if batch.inserts:
                        await c.exec_driver_sql(_INSERT, batch.inserts)
                    if batch.received:
                        rows = [(n, f, i) for i, (n, f) in batch.received.items()]
                        await c.exec_driver_sql(_RECEIVED, rows)
                    if batch.moves:
                        await c.exec_driver_sql(_MOVE, batch.moves)
                    if batch.deletes:
                        await c.exec_driver_sql(_DELETE, [(i,) for i in batch.deletes])
            except Exception as error:
                log.exception("could not write %d SQS messages", len(batch.inserts))
                for future in batch.waiters:  # nothing was accepted: every sender hears it
                    if not future.done():
                        future.set_exception(error)
                # Write-behind work is kept for the next attempt.
                self._pending.deletes[:0] = batch.deletes
                self._pending.moves[:0] = batch.moves
                for key, value in batch.received.items():
                    self._pending.received.setdefault(key, value)
                self._wake.set()  # the flusher tries again after its idle delay
                return
            for future in batch.waiters:
                if not future.done():
                    future.set_result(None)
