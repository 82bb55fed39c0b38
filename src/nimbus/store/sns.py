"""SNS topics and subscriptions in the state store.

Both are small and read on every Publish, so the service keeps them in memory and writes
through: `load` at start, one short transaction per change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Boolean, Column, Float, MetaData, String, Table, Text, delete, select
from sqlalchemy.dialects.sqlite import insert as upsert

from nimbus.store.sqlite import Database

_metadata = MetaData()
topics = Table(
    "sns_topics",
    _metadata,
    Column("arn", String(512), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("name", String(256), nullable=False),
    Column("attributes", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created", Float, nullable=False),
)
subscriptions = Table(
    "sns_subscriptions",
    _metadata,
    Column("arn", String(1024), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("topic_arn", String(512), nullable=False),
    Column("protocol", String(32), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("confirmed", Boolean, nullable=False),
    Column("token", String(256), nullable=True),
    Column("created", Float, nullable=False),
)


@dataclass
class Topic:
    arn: str
    account_id: str
    name: str
    attributes: dict[str, str] = field(default_factory=dict)  # DisplayName, Policy, ...
    tags: dict[str, str] = field(default_factory=dict)
    created: float = 0.0


@dataclass
class Subscription:
    arn: str
    account_id: str
    topic_arn: str
    protocol: str
    endpoint: str
    attributes: dict[str, str] = field(default_factory=dict)  # FilterPolicy, RawMessage...
    confirmed: bool = True
    token: str | None = None
    created: float = 0.0


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class SnsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self) -> tuple[list[Topic], list[Subscription]]:
        async with self.db.engine.connect() as c:
            topic_rows = (await c.execute(select(topics).order_by(topics.c.arn))).all()
            sub_rows = (
                await c.execute(select(subscriptions).order_by(subscriptions.c.created))
            ).all()
        return (
            [
                Topic(
                    r.arn,
                    r.account_id,
                    r.name,
                    orjson.loads(r.attributes),
                    orjson.loads(r.tags),
                    r.created,
                )
                for r in topic_rows
            ],
            [
                Subscription(
                    r.arn,
                    r.account_id,
                    r.topic_arn,
                    r.protocol,
                    r.endpoint,
                    orjson.loads(r.attributes),
                    bool(r.confirmed),
                    r.token,
                    r.created,
                )
                for r in sub_rows
            ],
        )

    async def put_topic(self, topic: Topic) -> None:
        values = {
            "arn": topic.arn,
            "account_id": topic.account_id,
            "name": topic.name,
            "attributes": _json(topic.attributes),
            "tags": _json(topic.tags),
            "created": topic.created,
        }
        statement = upsert(topics).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[topics.c.arn],
            set_={"attributes": statement.excluded.attributes, "tags": statement.excluded.tags},
        )
        async with self.db.engine.begin() as c:
            await c.execute(statement)

    async def delete_topic(self, arn: str) -> None:
        """The topic and every subscription to it (as AWS' DeleteTopic)."""
        async with self.db.engine.begin() as c:
            await c.execute(delete(subscriptions).where(subscriptions.c.topic_arn == arn))
            await c.execute(delete(topics).where(topics.c.arn == arn))

    async def put_subscription(self, sub: Subscription) -> None:
        values = {
            "arn": sub.arn,
            "account_id": sub.account_id,
            "topic_arn": sub.topic_arn,
            "protocol": sub.protocol,
            "endpoint": sub.endpoint,
            "attributes": _json(sub.attributes),
            "confirmed": sub.confirmed,
            "token": sub.token,
            "created": sub.created,
        }
        statement = upsert(subscriptions).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[subscriptions.c.arn],
            set_={
                "attributes": statement.excluded.attributes,
                "confirmed": statement.excluded.confirmed,
                "token": statement.excluded.token,
            },
        )
        async with self.db.engine.begin() as c:
            await c.execute(statement)

    async def delete_subscription(self, arn: str) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(delete(subscriptions).where(subscriptions.c.arn == arn))
