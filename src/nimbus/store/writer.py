"""A dedicated thread with its own sqlite3 connection, for hot paths: a writer (group
commits), or a reader (S3's GET lookups).

A transaction through SQLAlchemy + aiosqlite costs a thread hop per statement plus SQL
compilation (~1.5-2 ms measured here); a function run whole on this thread costs one hop
(~0.2 ms). Same file, WAL and synchronous=NORMAL as store/sqlite.py (durable on kill -9);
the tables are created by the Alembic migrations like every other table. store/sqs.py
uses the same pattern.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from nimbus.store.sqlite import Database

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[sqlite3.Connection], Any]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class SqliteThread:
    def __init__(self, db: Database, name: str) -> None:
        database = db.engine.url.database
        assert database, "SqliteThread needs the SQLite database file"
        self.path = Path(database)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._connection: sqlite3.Connection | None = None  # used on its thread only
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on the thread, after every job queued before it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, work))
        return await future

    async def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA foreign_keys=ON")  # as the engine's connections (cascades)
            c.execute("PRAGMA busy_timeout=10000")  # other connections write the file too
            self._connection = c
        return self._connection

    def _work(self) -> None:
        """Jobs in order; results handed back to their event loop (leaner than an executor:
        no concurrent.futures.Future per job)."""
        while True:
            job = self._jobs.get()
            if job is None:
                if self._connection is not None:
                    self._connection.close()
                return
            loop, future, work = job
            try:
                result, error = work(self._db()), None
            except BaseException as e:  # the caller sees it
                result, error = None, e
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, result, error)


def transaction(c: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work` in one write transaction (BEGIN IMMEDIATE: no upgrade deadlock); rolled back
    if it raises."""
    c.execute("BEGIN IMMEDIATE")
    try:
        result = work(c)
        c.execute("COMMIT")
    except BaseException:
        if c.in_transaction:
            c.execute("ROLLBACK")
        raise
    return result


def json_insert(table: str, columns: Sequence[str]) -> str:
    """An INSERT of many rows in ONE statement: its parameter is a JSON array of rows,
    which SQLite unpacks itself (json_each).

    executemany steps once per row, and the sqlite3 module gives up and retakes the GIL
    around every step: with the event loop busy, each retake waits for the loop to yield
    it. Under load that convoy cost the invoke path a quarter of its throughput."""
    values = ", ".join(f"value->>{i}" for i in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM json_each(?)"


def json_rows(rows: Sequence[Any]) -> tuple[bytes]:
    """The parameter of a json_insert (rows: sequences of column values), or of
    `... IN (SELECT value FROM json_each(?))` (rows: single values)."""
    return (orjson.dumps(rows),)
