"""Group commit for the S3 store: concurrent writers share one transaction (as
store/events.py does for events), so durability costs one commit per batch, not per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from nimbus.errors import NimbusError
from nimbus.store.sqlite import Database

log = logging.getLogger("nimbus.s3")
Op = Callable[[AsyncConnection], Awaitable[Any]]


class GroupCommit:
    def __init__(
        self,
        db: Database,
        what: str,
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.what = what  # for the log
        self.before_commit = before_commit  # e.g. make the batch's files durable first
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self._flush()

    async def write(self, op: Op) -> Any:
        """Run `op` in the next shared transaction; its result once committed. An op may
        raise a NimbusError only before it writes (that fails it alone)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        self._wake.set()
        return await future

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            results: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
            try:
                if self.before_commit is not None:
                    await self.before_commit()
                async with self.db.engine.begin() as c:
                    for op, future in batch:
                        try:
                            results.append((future, None, await op(c)))
                        except NimbusError as e:
                            results.append((future, e, None))
            except Exception as error:  # nothing was committed: every caller gets the error
                log.exception("could not commit %d %s", len(batch), self.what)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for future, failure, value in results:
                if future.done():
                    continue
                if failure is not None:
                    future.set_exception(failure)
                else:
                    future.set_result(value)
