"""The embedded state store: SQLite (WAL, one writer) through SQLAlchemy Core + aiosqlite.

Schema changes go through Alembic (migrations/), so the same code can later run on
PostgreSQL. Hot-path writes (metering, queues, objects) run on plain sqlite3 threads
(store/writer.py) against the same file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import msgspec
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, func, insert, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from nimbus.models import FunctionRecord
from nimbus.store.schema import access_keys, accounts, functions, invocations

log = logging.getLogger("nimbus.store")
MIGRATIONS = Path(__file__).parent / "migrations"
_encode = msgspec.json.Encoder().encode
_decode_function = msgspec.json.Decoder(FunctionRecord).decode


def _upgrade(connection: Connection) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    script = ScriptDirectory.from_config(config)
    context = MigrationContext.configure(connection)
    if context.get_current_revision() == script.get_current_head():
        return
    from alembic import command

    command.upgrade(config, "head")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fixed set of connections (each is a thread in aiosqlite): no churn under load.
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}", pool_size=8, max_overflow=0)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint+fsync
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    # accounts ------------------------------------------------------------------------
    async def ensure_account(self, account_id: str) -> None:
        async with self.engine.begin() as c:
            found = await c.scalar(
                select(accounts.c.account_id).where(accounts.c.account_id == account_id)
            )
            if found is None:
                await c.execute(insert(accounts).values(account_id=account_id, created=time.time()))

    async def add_access_key(self, account_id: str, key_id: str, secret: str) -> None:
        async with self.engine.begin() as c:
            await c.execute(
                insert(access_keys).values(
                    access_key_id=key_id,
                    secret_access_key=secret,
                    account_id=account_id,
                    created=time.time(),
                )
            )

    async def access_key(self, key_id: str) -> tuple[str, str] | None:
        """(secret, account id) for an access key id."""
        async with self.engine.connect() as c:
            row = (
                await c.execute(
                    select(access_keys.c.secret_access_key, access_keys.c.account_id).where(
                        access_keys.c.access_key_id == key_id
                    )
                )
            ).first()
        return (row[0], row[1]) if row else None

    # functions -------------------------------------------------------------------------
    async def insert_function(self, record: FunctionRecord) -> bool:
        """False if a function of that name exists already."""
        async with self.engine.begin() as c:
            exists = await c.scalar(
                select(functions.c.name).where(
                    functions.c.account_id == record.account_id, functions.c.name == record.name
                )
            )
            if exists is not None:
                return False
            await c.execute(
                insert(functions).values(
                    account_id=record.account_id,
                    name=record.name,
                    revision_id=record.revision_id,
                    config=_encode(record).decode(),
                    updated=time.time(),
                )
            )
        return True

    async def replace_function(self, record: FunctionRecord, expected_revision: str) -> bool:
        """Compare-and-set on RevisionId: False if someone else changed it first."""
        async with self.engine.begin() as c:
            result = await c.execute(
                update(functions)
                .where(
                    functions.c.account_id == record.account_id,
                    functions.c.name == record.name,
                    functions.c.revision_id == expected_revision,
                )
                .values(
                    revision_id=record.revision_id,
                    config=_encode(record).decode(),
                    updated=time.time(),
                )
            )
        return result.rowcount == 1

    async def get_function(self, account_id: str, name: str) -> FunctionRecord | None:
        async with self.engine.connect() as c:
            config = await c.scalar(
                select(functions.c.config).where(
                    functions.c.account_id == account_id, functions.c.name == name
                )
            )
        return _decode_function(config) if config is not None else None

    async def list_functions(
        self, account_id: str, after: str | None, limit: int
    ) -> list[FunctionRecord]:
        query = select(functions.c.config).where(functions.c.account_id == account_id)
        if after:
            query = query.where(functions.c.name > after)
        query = query.order_by(functions.c.name).limit(limit)
        async with self.engine.connect() as c:
            rows = (await c.execute(query)).scalars().all()
        return [_decode_function(row) for row in rows]

    async def delete_function(self, account_id: str, name: str) -> bool:
        async with self.engine.begin() as c:
            result = await c.execute(
                sql_delete(functions).where(
                    functions.c.account_id == account_id, functions.c.name == name
                )
            )
        return result.rowcount == 1

    async def code_in_use(self, code_key: str) -> bool:
        """Whether any function's current code is the package `code_key`."""
        async with self.engine.connect() as c:
            found = await c.scalar(
                select(functions.c.name)
                .where(functions.c.config.contains(f'"code_key":"{code_key}"'))
                .limit(1)
            )
        return found is not None

    async def all_functions(self) -> list[FunctionRecord]:
        async with self.engine.connect() as c:
            rows = (await c.execute(select(functions.c.config))).scalars().all()
        return [_decode_function(row) for row in rows]

    # metering ----------------------------------------------------------------------------
    async def usage(self, account_id: str, since: float) -> dict[str, float]:
        query = select(
            func.count(),
            func.coalesce(func.sum(invocations.c.gb_seconds), 0.0),
            func.coalesce(func.sum(invocations.c.billed_ms), 0),
        ).where(invocations.c.account_id == account_id, invocations.c.start >= since)
        async with self.engine.connect() as c:
            row = (await c.execute(query)).one()
        return {"requests": int(row[0]), "gb_seconds": float(row[1]), "billed_ms": int(row[2])}

    async def usage_by_function(self, account_id: str, since: float) -> list[dict[str, Any]]:
        query = (
            select(
                invocations.c.function,
                func.count(),
                func.coalesce(func.sum(invocations.c.gb_seconds), 0.0),
            )
            .where(
                invocations.c.account_id == account_id,
                invocations.c.start >= since,
            )
            .group_by(invocations.c.function)
            .order_by(invocations.c.function)
        )
        async with self.engine.connect() as c:
            rows = (await c.execute(query)).all()
        return [{"function": r[0], "requests": int(r[1]), "gb_seconds": float(r[2])} for r in rows]
