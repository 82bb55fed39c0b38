"""Fires ENABLED schedule rules (rate/cron) with AWS' Scheduled Event.

Time. Each rule keeps a watermark, `fired_until` (epoch seconds): every scheduled time
at or before it has been handled. A tick fires a rule when its next scheduled time after
the watermark (`schedule.next_fire`, rates anchored at the rule's creation) is due, then
moves the watermark to *now*. The clock is injectable: `now` returns epoch seconds, and
`time_scale` makes the scheduler's time run faster than the wall clock (60: a minute
per second, so `rate(1 minute)` fires every second; the server reads
NIMBUS_SCHEDULE_TIME_SCALE for end-to-end tests; give RulesService the same `now` so
anchors and watermarks are in scheduler time; a scaled clock is for tests only: it runs
ahead of the wall clock, so its watermarks are meaningless to a later unscaled run).
Unit tests call `tick(now)` directly.

Missed firings. While the server was down (or a tick was late), several scheduled times
may have passed: the rule fires ONCE — the event's `time` is the first missed scheduled
time — and the watermark jumps to now, so the next firing is the next scheduled time in
the future. No burst of stale events. Enabling a rule (EnableRule, PutRule) moves its
watermark to now: nothing fires for the time it was disabled.

Delivery is at least once: targets get the event (durably, for Lambda) before the
watermark is stored, so a crash in between fires that time again on restart. One
scheduler per database: several nodes would each fire (a lease is future work).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from nimbus.protocol.schedule import next_fire
from nimbus.services.rule_targets import TargetDelivery
from nimbus.store.rules import Rule, RuleStore
from nimbus.tasks import cancel_and_wait

log = logging.getLogger("nimbus.events")


def iso_seconds(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rule_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:rule/{name}"


def scheduled_event(region: str, rule: Rule, when: dt.datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": rule.account_id,
        "time": iso_seconds(when),
        "region": region,
        "resources": [rule_arn(region, rule.account_id, rule.name)],
        "detail": {},
    }


def scaled_clock(scale: float, wall: Callable[[], float] = time.time) -> Callable[[], float]:
    """A clock that starts at the wall time and runs `scale` times faster."""
    start = wall()
    return lambda: start + (wall() - start) * scale


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class Scheduler:
    def __init__(
        self,
        rules: RuleStore,
        delivery: TargetDelivery,
        region: str,
        *,
        now: Callable[[], float] | None = None,
        time_scale: float = 1.0,
        poll_s: float = 1.0,
    ) -> None:
        self.rules = rules
        self.delivery = delivery
        self.region = region
        self.time_scale = time_scale
        self.now = now or (scaled_clock(time_scale) if time_scale != 1.0 else time.time)
        self.poll_s = poll_s
        self.fired = 0  # events fired, for tests and stats
        self._due: dict[tuple[str, str, str, float, float], float | None] = {}
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Rules changed: look again now."""
        self._kick.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def close(self) -> None:
        await cancel_and_wait(self._task)

    def _next(self, rule: Rule) -> float | None:
        assert rule.schedule is not None
        key = (rule.account_id, rule.name, rule.schedule, rule.anchor, rule.fired_until)
        if key not in self._due:
            if len(self._due) > 100_000:
                self._due.clear()
            when = next_fire(rule.schedule, _utc(rule.fired_until), _utc(rule.anchor))
            self._due[key] = when.timestamp() if when else None
        return self._due[key]

    async def tick(self, now: float | None = None) -> float | None:
        """Fire every rule that is due at `now`; returns the next due time (or None)."""
        now = self.now() if now is None else now
        soonest: float | None = None
        for rule in await self.rules.enabled_schedules():
            due = self._next(rule)
            if due is not None and due <= now:
                await self._fire(rule, due, now)
                rule.fired_until = now
                due = self._next(rule)
            if due is not None and (soonest is None or due < soonest):
                soonest = due
        return soonest

    async def _fire(self, rule: Rule, due: float, now: float) -> None:
        event = scheduled_event(self.region, rule, _utc(due))
        try:
            await self.delivery.deliver(rule.account_id, rule.name, event)
        except Exception:
            log.exception("rule %s: delivery failed; will retry", rule.name)
            return
        await self.rules.set_fired(rule.account_id, rule.name, now)
        self.fired += 1

    async def _forever(self) -> None:
        while True:
            wait = self.poll_s
            try:
                soonest = await self.tick()
                if soonest is not None:
                    wait = min(wait, max(0.0, (soonest - self.now()) / self.time_scale))
            except Exception:
                log.exception("scheduler")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), wait)
            self._kick.clear()
