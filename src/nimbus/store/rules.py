"""EventBridge rules and targets in the state store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update

from nimbus.store.schema import event_rules as r
from nimbus.store.schema import event_targets as t
from nimbus.store.sqlite import Database


@dataclass
class Rule:
    account_id: str
    name: str
    schedule: str | None
    pattern: str | None
    state: str  # ENABLED | DISABLED
    description: str | None
    role_arn: str | None
    created: float
    anchor: float  # a rate's periods start here
    fired_until: float  # every scheduled time <= this one has been handled


@dataclass
class Target:
    id: str
    arn: str
    config: dict[str, Any]  # the Target as the API got it


def _rule(row: Any) -> Rule:
    return Rule(
        row.account_id,
        row.name,
        row.schedule,
        row.pattern,
        row.state,
        row.description,
        row.role_arn,
        row.created,
        row.anchor,
        row.fired_until,
    )


def _key(account_id: str, name: str) -> Any:
    return (r.c.account_id == account_id) & (r.c.name == name)


class RuleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, account_id: str, name: str) -> Rule | None:
        async with self.db.engine.connect() as c:
            row = (await c.execute(select(r).where(_key(account_id, name)))).first()
        return _rule(row) if row else None

    async def put(self, rule: Rule) -> None:
        """Insert or replace the rule (targets are kept)."""
        values = dict(rule.__dict__)
        async with self.db.engine.begin() as c:
            await c.execute(delete(r).where(_key(rule.account_id, rule.name)))
            await c.execute(insert(r).values(**values))

    async def set_state(self, account_id: str, name: str, state: str, now: float) -> bool:
        """Enabling moves the watermark to `now`: nothing fires for the disabled time."""
        values: dict[str, Any] = {"state": state}
        if state == "ENABLED":
            values["fired_until"] = now
        async with self.db.engine.begin() as c:
            rule = (await c.execute(select(r.c.state).where(_key(account_id, name)))).first()
            if rule is None:
                return False
            if rule.state != state:
                await c.execute(update(r).where(_key(account_id, name)).values(**values))
        return True

    async def set_fired(self, account_id: str, name: str, until: float) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(update(r).where(_key(account_id, name)).values(fired_until=until))

    async def delete(self, account_id: str, name: str) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(delete(r).where(_key(account_id, name)))

    async def list_rules(
        self, account_id: str, prefix: str, after: str | None, limit: int
    ) -> list[Rule]:
        query = select(r).where(r.c.account_id == account_id)
        if prefix:
            query = query.where(r.c.name.startswith(prefix, autoescape=True))
        if after is not None:
            query = query.where(r.c.name > after)
        async with self.db.engine.connect() as c:
            rows = (await c.execute(query.order_by(r.c.name).limit(limit))).all()
        return [_rule(row) for row in rows]

    async def enabled_schedules(self) -> list[Rule]:
        query = select(r).where(r.c.state == "ENABLED", r.c.schedule.is_not(None))
        async with self.db.engine.connect() as c:
            return [_rule(row) for row in (await c.execute(query)).all()]

    async def enabled_patterns(self, account_id: str) -> list[Rule]:
        query = select(r).where(
            r.c.account_id == account_id, r.c.state == "ENABLED", r.c.pattern.is_not(None)
        )
        async with self.db.engine.connect() as c:
            return [_rule(row) for row in (await c.execute(query)).all()]

    # targets -------------------------------------------------------------------------
    async def put_targets(self, account_id: str, rule: str, targets: list[Target]) -> None:
        ids = [target.id for target in targets]
        async with self.db.engine.begin() as c:
            await c.execute(
                delete(t).where(
                    t.c.account_id == account_id, t.c.rule == rule, t.c.target_id.in_(ids)
                )
            )
            await c.execute(
                insert(t),
                [
                    {
                        "account_id": account_id,
                        "rule": rule,
                        "target_id": target.id,
                        "arn": target.arn,
                        "config": orjson.dumps(target.config).decode(),
                    }
                    for target in targets
                ],
            )

    async def remove_targets(self, account_id: str, rule: str, ids: list[str]) -> None:
        async with self.db.engine.begin() as c:
            await c.execute(
                delete(t).where(
                    t.c.account_id == account_id, t.c.rule == rule, t.c.target_id.in_(ids)
                )
            )

    async def targets(self, account_id: str, rule: str) -> list[Target]:
        query = (
            select(t.c.target_id, t.c.arn, t.c.config)
            .where(t.c.account_id == account_id, t.c.rule == rule)
            .order_by(t.c.target_id)
        )
        async with self.db.engine.connect() as c:
            rows = (await c.execute(query)).all()
        return [Target(row.target_id, row.arn, orjson.loads(row.config)) for row in rows]

    async def count_targets(self, account_id: str, rule: str) -> int:
        query = select(func.count()).where(t.c.account_id == account_id, t.c.rule == rule)
        async with self.db.engine.connect() as c:
            return int(await c.scalar(query) or 0)
