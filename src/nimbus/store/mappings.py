"""Event source mappings in the state store: one row per mapping, its AWS configuration as
JSON beside the columns it is looked up by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Column, Float, MetaData, String, Table, Text, delete, insert, select, update

from nimbus.store.sqlite import Database

# Defined here, not in schema.py: only this module reads or writes the table (0006 makes it).
_metadata = MetaData()
mappings = Table(
    "event_source_mappings",
    _metadata,
    Column("uuid", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("event_source_arn", String(1024), nullable=False),
    Column("created", Float, nullable=False),
    Column("config", Text, nullable=False),
)


@dataclass
class Mapping:
    uuid: str
    account_id: str
    function_name: str
    event_source_arn: str
    created: float
    config: dict[str, Any]  # EventSourceMappingConfiguration as AWS returns it

    def row(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "account_id": self.account_id,
            "function_name": self.function_name,
            "event_source_arn": self.event_source_arn,
            "created": self.created,
            "config": orjson.dumps(self.config).decode(),
        }


def _mapping(row: Any) -> Mapping:
    return Mapping(
        row.uuid,
        row.account_id,
        row.function_name,
        row.event_source_arn,
        row.created,
        orjson.loads(row.config),
    )


class MappingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, mapping: Mapping) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(insert(mappings).values(**mapping.row()))

    async def save(self, mapping: Mapping) -> None:
        values = mapping.row()
        del values["uuid"]
        async with self.db.engine.begin() as c:
            await c.execute(update(mappings).where(mappings.c.uuid == mapping.uuid).values(values))

    async def get(self, account_id: str | None, uuid: str) -> Mapping | None:
        """The mapping `uuid` (of `account_id`, unless None)."""
        query = select(mappings).where(mappings.c.uuid == uuid)
        if account_id is not None:
            query = query.where(mappings.c.account_id == account_id)
        async with self.db.engine.connect() as c:
            row = (await c.execute(query)).first()
        return _mapping(row) if row else None

    async def delete(self, uuid: str) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(delete(mappings).where(mappings.c.uuid == uuid))

    async def find(
        self,
        account_id: str,
        source_arn: str | None = None,
        function_name: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Mapping]:
        query = select(mappings).where(mappings.c.account_id == account_id)
        if source_arn is not None:
            query = query.where(mappings.c.event_source_arn == source_arn)
        if function_name is not None:
            query = query.where(mappings.c.function_name == function_name)
        if after is not None:
            query = query.where(mappings.c.uuid > after)
        query = query.order_by(mappings.c.uuid)
        if limit is not None:
            query = query.limit(limit)
        async with self.db.engine.connect() as c:
            return [_mapping(row) for row in (await c.execute(query)).all()]

    async def all(self) -> list[Mapping]:
        async with self.db.engine.connect() as c:
            rows = (await c.execute(select(mappings).order_by(mappings.c.created))).all()
        return [_mapping(row) for row in rows]
