"""Group commit for the S3 store: concurrent writers share one transaction (as
store/events.py does for events), so durability costs one commit per batch, not per change.

A batch is one trip to a dedicated writer thread (store/writer.py): `before_commit` (fsync
of the directories that gained blobs: done before the transaction, so the write lock is not
held meanwhile), then every op on a plain sqlite3 connection, then COMMIT. No SQLAlchemy on
this path: it cost a thread hop per statement.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from nimbus.errors import NimbusError
from nimbus.store.sqlite import Database
from nimbus.store.writer import SqliteThread, transaction
from nimbus.tasks import cancel_and_wait

log = logging.getLogger("nimbus.s3")
Op = Callable[[sqlite3.Connection], Any]  # runs on the writer thread, in the transaction
_Outcome = tuple[NimbusError | None, Any]


class GroupCommit:
    def __init__(
        self,
        db: Database,
        what: str,
        before_commit: Callable[[], None] | None = None,
        name: str = "s3-store",
    ) -> None:
        self.what = what  # for the log
        self.before_commit = before_commit  # blocking, on the writer thread, before BEGIN
        self.writer = SqliteThread(db, name)
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        await cancel_and_wait(self._flusher)
        await self._flush()
        await self.writer.close()

    async def write(self, op: Op) -> Any:
        """Run `op` in the next shared transaction; its result once committed. An op may
        raise a NimbusError only before it writes (that fails it alone). Files its change
        refers to are in place before this is called (their directories are fsynced with
        the batch)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        self._wake.set()
        return await future

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    def _run_batch(self, c: sqlite3.Connection, *, ops: list[Op]) -> list[_Outcome]:
        def work(c: sqlite3.Connection) -> list[_Outcome]:
            outcomes: list[_Outcome] = []
            for op in ops:
                try:
                    outcomes.append((None, op(c)))
                except NimbusError as e:
                    outcomes.append((e, None))
            return outcomes

        if self.before_commit is not None:  # what the ops' writers did before write()
            self.before_commit()
        return transaction(c, work)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            ops = [op for op, _ in batch]
            try:
                outcomes = await self.writer.run(functools.partial(self._run_batch, ops=ops))
            except Exception as error:  # nothing was committed: every caller gets the error
                log.exception("could not commit %d %s", len(batch), self.what)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), (failure, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if failure is not None:
                    future.set_exception(failure)
                else:
                    future.set_result(value)
