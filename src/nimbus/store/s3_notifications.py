"""Bucket notification configurations in the state store: one JSON document per bucket.

The row references the bucket (ON DELETE CASCADE), so deleting a bucket deletes its
configuration. Every object change reads it, so it is cached here (write-through); the
cascade happens behind this store's back, so the S3 service calls `forget_bucket` after
deleting a bucket.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Column, Float, MetaData, String, Table, Text, delete, select
from sqlalchemy.dialects.sqlite import insert as upsert

from nimbus.store.sqlite import Database

metadata = MetaData()
# Created by migration 0009 (with the foreign key to s3_buckets).
s3_notifications = Table(
    "s3_notifications",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("bucket", String(63), primary_key=True),
    Column("config", Text, nullable=False),  # the stored targets, as JSON
    Column("updated", Float, nullable=False),
)
t = s3_notifications


class NotificationStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # (account, bucket) -> stored targets. `_generation` grows with every change, so a
        # read that raced one is not cached.
        self._cache: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._generation = 0

    async def get(self, account: str, bucket: str) -> list[dict[str, Any]]:
        """The bucket's stored targets ([] when none). Callers must not mutate them."""
        found = self._cache.get((account, bucket))
        if found is not None:
            return found
        generation = self._generation
        async with self.db.engine.connect() as c:
            raw = await c.scalar(
                select(t.c.config).where(t.c.account_id == account, t.c.bucket == bucket)
            )
        targets: list[dict[str, Any]] = orjson.loads(raw) if raw else []
        if generation == self._generation:
            self._cache[(account, bucket)] = targets
        return targets

    def forget_bucket(self, bucket: str) -> None:
        """The bucket is gone (its row went with it)."""
        self._generation += 1
        self._cache = {k: v for k, v in self._cache.items() if k[1] != bucket}

    async def put(self, account: str, bucket: str, targets: list[dict[str, Any]]) -> None:
        """Replace the bucket's configuration (an empty list removes it)."""
        try:
            await self._put(account, bucket, targets)
        finally:
            self._generation += 1
            self._cache.pop((account, bucket), None)

    async def _put(self, account: str, bucket: str, targets: list[dict[str, Any]]) -> None:
        async with self.db.engine.begin() as c:
            if not targets:
                await c.execute(delete(t).where(t.c.account_id == account, t.c.bucket == bucket))
                return
            statement = upsert(t).values(
                account_id=account,
                bucket=bucket,
                config=orjson.dumps(targets).decode(),
                updated=time.time(),
            )
            await c.execute(
                statement.on_conflict_do_update(
                    index_elements=[t.c.account_id, t.c.bucket],
                    set_={
                        "config": statement.excluded.config,
                        "updated": statement.excluded.updated,
                    },
                )
            )
