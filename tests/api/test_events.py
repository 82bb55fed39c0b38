"""EventBridge rules in process: a real SQLite store, the real service, scheduler and API
adapter; only the delivery boundary (AsyncInvokeService.accept) is a recorder. The clock
is injected, so schedules are checked at exact times without waiting."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from nimbus.api.edge import ApiRequest
from nimbus.api.events import events_api
from nimbus.errors import (
    InvalidEventPattern,
    LimitExceeded,
    ResourceNotFound,
    ValidationError,
)
from nimbus.services.rule_targets import TargetDelivery
from nimbus.services.rules import RulesService
from nimbus.services.scheduler import Scheduler, scaled_clock
from nimbus.store.rules import RuleStore
from nimbus.store.sqlite import Database

ACCOUNT = "123456789012"
T0 = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC).timestamp()
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn"


@dataclass
class Recorder:
    """The delivery boundary: records what would be invoked asynchronously."""

    calls: list[tuple[str, str, str | None, Any]] = field(default_factory=list)

    async def accept(
        self, account: str, function: str, qualifier: str | None, payload: bytes
    ) -> str:
        self.calls.append((account, function, qualifier, orjson.loads(payload)))
        return str(len(self.calls))


@dataclass
class World:
    db: Database
    store: RuleStore
    sink: Recorder
    service: RulesService
    scheduler: Scheduler
    clock: list[float]

    def scheduler_again(self) -> Scheduler:
        """A new scheduler on the same database: a server restart."""
        delivery = TargetDelivery(self.store, self.sink)
        return Scheduler(self.store, delivery, "us-east-1", now=lambda: self.clock[0])


def run(tmp_path: Path, scenario: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        db = await Database.open(tmp_path / "x.db")
        clock = [T0]
        store = RuleStore(db)
        sink = Recorder()
        delivery = TargetDelivery(store, sink)
        scheduler = Scheduler(store, delivery, "us-east-1", now=lambda: clock[0])
        service = RulesService(store, delivery, "us-east-1", scheduler.kick, lambda: clock[0])
        try:
            await scenario(World(db, store, sink, service, scheduler, clock))
        finally:
            await db.close()

    asyncio.run(main())


def test_rules_crud_and_pagination(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        s = w.service
        out = await s.put_rule(ACCOUNT, {"Name": "every", "ScheduleExpression": "rate(5 minutes)"})
        assert out == {"RuleArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/every"}
        pattern = '{"source": ["my.app"]}'
        await s.put_rule(ACCOUNT, {"Name": "app", "EventPattern": pattern, "Description": "d"})
        for i in range(5):
            await s.put_rule(ACCOUNT, {"Name": f"job-{i}", "ScheduleExpression": "rate(1 day)"})
        described = await s.describe_rule(ACCOUNT, {"Name": "app"})
        assert described["EventPattern"] == pattern
        assert described["State"] == "ENABLED"
        assert described["Description"] == "d"
        assert described["EventBusName"] == "default"
        assert "ScheduleExpression" not in described
        every = await s.describe_rule(ACCOUNT, {"Name": "every"})
        assert every["ScheduleExpression"] == "rate(5 minutes)"

        names: list[str] = []
        token: str | None = None
        while True:
            page = await s.list_rules(
                ACCOUNT,
                {"NamePrefix": "job-", "Limit": 2, **({"NextToken": token} if token else {})},
            )
            names += [r["Name"] for r in page["Rules"]]
            token = page.get("NextToken")
            if not token:
                break
        assert names == [f"job-{i}" for i in range(5)]
        assert len((await s.list_rules(ACCOUNT, {}))["Rules"]) == 7
        assert (await s.list_rules("999999999999", {}))["Rules"] == []

        await s.disable_rule(ACCOUNT, {"Name": "app"})
        assert (await s.describe_rule(ACCOUNT, {"Name": "app"}))["State"] == "DISABLED"
        await s.enable_rule(ACCOUNT, {"Name": "app"})
        assert (await s.describe_rule(ACCOUNT, {"Name": "app"}))["State"] == "ENABLED"

        await s.delete_rule(ACCOUNT, {"Name": "app"})
        with pytest.raises(
            ResourceNotFound, match=r"Rule app does not exist on EventBus default\."
        ):
            await s.describe_rule(ACCOUNT, {"Name": "app"})
        with pytest.raises(ResourceNotFound):
            await s.enable_rule(ACCOUNT, {"Name": "app"})
        await s.delete_rule(ACCOUNT, {"Name": "app"})  # deleting nothing is fine, as AWS

    run(tmp_path, scenario)


def test_put_rule_validation(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        s = w.service
        with pytest.raises(ValidationError, match=r"^Parameter ScheduleExpression is not valid\.$"):
            await s.put_rule(ACCOUNT, {"Name": "r", "ScheduleExpression": "rate(5 minute)"})
        with pytest.raises(ValidationError, match="ScheduleExpression is not valid"):
            await s.put_rule(ACCOUNT, {"Name": "r", "ScheduleExpression": "cron(0 10 * * * *)"})
        with pytest.raises(InvalidEventPattern, match=r"Event pattern is not valid\. Reason: "):
            await s.put_rule(ACCOUNT, {"Name": "r", "EventPattern": '{"source": "x"}'})
        with pytest.raises(ValidationError, match="EventPattern or ScheduleExpression"):
            await s.put_rule(ACCOUNT, {"Name": "r"})
        with pytest.raises(ResourceNotFound, match=r"Event bus other does not exist\."):
            await s.put_rule(
                ACCOUNT, {"Name": "r", "EventPattern": '{"a":["b"]}', "EventBusName": "other"}
            )
        assert (await s.list_rules(ACCOUNT, {}))["Rules"] == []

    run(tmp_path, scenario)


def test_targets(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        s = w.service
        await s.put_rule(ACCOUNT, {"Name": "r", "ScheduleExpression": "rate(1 hour)"})
        targets = [{"Id": "a", "Arn": FN, "Input": '{"k": 1}'}, {"Id": "b", "Arn": FN}]
        out = await s.put_targets(ACCOUNT, {"Rule": "r", "Targets": targets})
        assert out == {"FailedEntryCount": 0, "FailedEntries": []}
        listed = await s.list_targets_by_rule(ACCOUNT, {"Rule": "r"})
        assert listed["Targets"] == targets
        # PutTargets with an existing Id replaces it
        await s.put_targets(ACCOUNT, {"Rule": "r", "Targets": [{"Id": "b", "Arn": FN + ":live"}]})
        listed = await s.list_targets_by_rule(ACCOUNT, {"Rule": "r", "Limit": 1})
        assert [t["Id"] for t in listed["Targets"]] == ["a"]
        rest = await s.list_targets_by_rule(
            ACCOUNT, {"Rule": "r", "NextToken": listed["NextToken"]}
        )
        assert rest["Targets"] == [{"Id": "b", "Arn": FN + ":live"}]

        with pytest.raises(ValidationError, match="Only one of Input, InputPath"):
            await s.put_targets(
                ACCOUNT,
                {"Rule": "r", "Targets": [{"Id": "c", "Arn": FN, "Input": "{}", "InputPath": "$"}]},
            )
        with pytest.raises(ValidationError, match="invalid Input"):
            await s.put_targets(
                ACCOUNT, {"Rule": "r", "Targets": [{"Id": "c", "Arn": FN, "Input": "{nope"}]}
            )
        many = [{"Id": f"t{i}", "Arn": FN} for i in range(4)]
        with pytest.raises(LimitExceeded):
            await s.put_targets(ACCOUNT, {"Rule": "r", "Targets": many})
        with pytest.raises(ResourceNotFound):
            await s.put_targets(ACCOUNT, {"Rule": "nope", "Targets": targets})
        with pytest.raises(ResourceNotFound):
            await s.list_targets_by_rule(ACCOUNT, {"Rule": "nope"})

        with pytest.raises(
            ValidationError, match=r"^Rule can't be deleted since it has targets\.$"
        ):
            await s.delete_rule(ACCOUNT, {"Name": "r"})
        out = await s.remove_targets(ACCOUNT, {"Rule": "r", "Ids": ["a", "b"]})
        assert out["FailedEntryCount"] == 0
        await s.delete_rule(ACCOUNT, {"Name": "r"})

    run(tmp_path, scenario)


def _minute(n: int) -> float:
    return T0 + 60 * n


def test_rate_fires_on_time_with_the_scheduled_event(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        await w.service.put_rule(ACCOUNT, {"Name": "tick", "ScheduleExpression": "rate(1 minute)"})
        await w.service.put_targets(ACCOUNT, {"Rule": "tick", "Targets": [{"Id": "1", "Arn": FN}]})
        assert await w.scheduler.tick(_minute(1) - 1) == _minute(1)
        assert w.sink.calls == []
        await w.scheduler.tick(_minute(1))
        assert len(w.sink.calls) == 1
        account, function, qualifier, event = w.sink.calls[0]
        assert (account, function, qualifier) == (ACCOUNT, "fn", None)
        assert set(event) == {
            "version", "id", "detail-type", "source", "account", "time", "region", "resources",
            "detail",
        }  # fmt: skip
        assert event["version"] == "0"
        assert event["detail-type"] == "Scheduled Event"
        assert event["source"] == "aws.events"
        assert event["account"] == ACCOUNT
        assert event["time"] == "2024-01-01T09:01:00Z"
        assert event["region"] == "us-east-1"
        assert event["resources"] == [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/tick"]
        assert event["detail"] == {}
        assert len(event["id"]) == 36
        await w.scheduler.tick(_minute(1) + 30)
        assert len(w.sink.calls) == 1
        await w.scheduler.tick(_minute(2))
        await w.scheduler.tick(_minute(3) + 0.5)
        assert [c[3]["time"] for c in w.sink.calls] == [
            "2024-01-01T09:01:00Z",
            "2024-01-01T09:02:00Z",
            "2024-01-01T09:03:00Z",
        ]
        assert len({c[3]["id"] for c in w.sink.calls}) == 3

    run(tmp_path, scenario)


def test_missed_firings_fire_once_then_resume(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        await w.service.put_rule(ACCOUNT, {"Name": "tick", "ScheduleExpression": "rate(1 minute)"})
        await w.service.put_targets(ACCOUNT, {"Rule": "tick", "Targets": [{"Id": "1", "Arn": FN}]})
        await w.scheduler.tick(_minute(1))
        # the server is down for an hour; a new scheduler starts on the same database
        restarted = w.scheduler_again()
        await restarted.tick(_minute(61) + 10)
        assert [c[3]["time"] for c in w.sink.calls] == [
            "2024-01-01T09:01:00Z",
            "2024-01-01T09:02:00Z",  # one catch-up event: the first missed time
        ]
        await restarted.tick(_minute(61) + 20)  # no burst
        assert len(w.sink.calls) == 2
        again = w.scheduler_again()  # restart right after: nothing fires twice
        await again.tick(_minute(61) + 30)
        assert len(w.sink.calls) == 2
        await again.tick(_minute(62))  # the regular schedule resumes (anchored at creation)
        assert w.sink.calls[-1][3]["time"] == "2024-01-01T10:02:00Z"

    run(tmp_path, scenario)


def test_cron_and_disabled_rules(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        s = w.service
        await s.put_rule(ACCOUNT, {"Name": "ten", "ScheduleExpression": "cron(0 10 * * ? *)"})
        await s.put_rule(
            ACCOUNT, {"Name": "off", "ScheduleExpression": "rate(1 minute)", "State": "DISABLED"}
        )
        for name in ("ten", "off"):
            await s.put_targets(ACCOUNT, {"Rule": name, "Targets": [{"Id": "1", "Arn": FN}]})
        await w.scheduler.tick(_minute(59))
        assert w.sink.calls == []
        await w.scheduler.tick(_minute(60))
        assert [c[3]["time"] for c in w.sink.calls] == ["2024-01-01T10:00:00Z"]
        # enabling after a day of being disabled does not fire for the disabled time
        w.clock[0] = _minute(60 * 25)  # 10:00 the next day
        await s.enable_rule(ACCOUNT, {"Name": "off"})
        await w.scheduler.tick(_minute(60 * 25) + 30)
        assert len(w.sink.calls) == 2  # only "ten"
        assert w.sink.calls[-1][3]["resources"][0].endswith("rule/ten")
        assert w.sink.calls[-1][3]["time"] == "2024-01-02T10:00:00Z"
        await w.scheduler.tick(_minute(60 * 25 + 1))
        assert w.sink.calls[-1][3]["resources"][0].endswith("rule/off")
        await s.disable_rule(ACCOUNT, {"Name": "off"})
        await s.disable_rule(ACCOUNT, {"Name": "ten"})
        await w.scheduler.tick(_minute(60 * 48 + 5))
        assert len(w.sink.calls) == 3

    run(tmp_path, scenario)


def test_input_input_path_and_target_types(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        s = w.service
        await s.put_rule(ACCOUNT, {"Name": "r", "ScheduleExpression": "rate(1 minute)"})
        targets = [
            {"Id": "literal", "Arn": "arn:aws:lambda:us-east-1:111111111111:function:a:prod",
             "Input": '{"hello": "world"}'},
            {"Id": "path", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:b",
             "InputPath": "$.detail"},
            {"Id": "res", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:c",
             "InputPath": "$.resources[0]"},
            {"Id": "sqs", "Arn": "arn:aws:sqs:us-east-1:123456789012:queue"},
        ]  # fmt: skip
        await s.put_targets(ACCOUNT, {"Rule": "r", "Targets": targets})
        await w.scheduler.tick(_minute(1))
        got = sorted(w.sink.calls, key=lambda c: c[1])
        assert got == [
            ("111111111111", "a", "prod", {"hello": "world"}),
            (ACCOUNT, "b", None, {}),
            (ACCOUNT, "c", None, f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r"),
        ]  # the SQS target is not available yet: skipped with a warning

    run(tmp_path, scenario)


def test_put_events_routes_by_pattern(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        s = w.service
        rules = {
            "orders": {
                "source": [{"prefix": "shop."}],
                "detail": {"total": [{"numeric": [">", 100]}]},
            },
            "not-test": {
                "detail-type": [{"anything-but": "test"}],
                "detail": {"id": [{"exists": True}]},
            },
            "off": {"source": ["shop.orders"]},
        }
        for name, pattern in rules.items():
            await s.put_rule(
                ACCOUNT, {"Name": name, "EventPattern": orjson.dumps(pattern).decode()}
            )
            fn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
            await s.put_targets(ACCOUNT, {"Rule": name, "Targets": [{"Id": "1", "Arn": fn}]})
        await s.disable_rule(ACCOUNT, {"Name": "off"})
        when = dt.datetime(2024, 5, 1, 12, 30, 15, tzinfo=dt.UTC).timestamp()
        entries = [
            {"Source": "shop.orders", "DetailType": "order", "Detail": '{"total": 250, "id": 1}',
             "Resources": ["arn:x"], "Time": when},
            {"Source": "shop.orders", "DetailType": "test", "Detail": '{"total": 5, "id": 2}'},
            {"Source": "other", "DetailType": "order", "Detail": '{"total": 500}'},
            {"Source": "x", "DetailType": "y", "Detail": "[not json"},
            {"Source": "x", "Detail": "{}"},
        ]  # fmt: skip
        out = await s.put_events(ACCOUNT, {"Entries": entries})
        assert out["FailedEntryCount"] == 2
        results = out["Entries"]
        assert all(len(r["EventId"]) == 36 for r in results[:3])
        assert results[3] == {
            "ErrorCode": "MalformedDetail",
            "ErrorMessage": "Detail is malformed.",
        }
        assert results[4]["ErrorCode"] == "InvalidArgument"
        assert "DetailType" in results[4]["ErrorMessage"]
        delivered = sorted(
            (c[1], c[3]["detail"].get("id"), c[3]["detail"]["total"]) for c in w.sink.calls
        )
        assert delivered == [("not-test", 1, 250), ("orders", 1, 250)]
        first = next(c[3] for c in w.sink.calls if c[1] == "orders")
        assert first == {
            "version": "0",
            "id": results[0]["EventId"],
            "detail-type": "order",
            "source": "shop.orders",
            "account": ACCOUNT,
            "time": "2024-05-01T12:30:15Z",
            "region": "us-east-1",
            "resources": ["arn:x"],
            "detail": {"total": 250, "id": 1},
        }

    run(tmp_path, scenario)


def test_the_json_api_adapter(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        api = events_api(w.service)

        async def call(op: str, params: dict[str, Any]) -> tuple[int, Any]:
            headers = {"x-amz-target": f"AWSEvents.{op}"}
            status, _, body = await api.handle(
                ApiRequest(ACCOUNT, "POST", "/", {}, headers, orjson.dumps(params), "req-1")
            )
            return status, orjson.loads(body)

        status, body = await call("PutRule", {"Name": "r", "ScheduleExpression": "rate(1 minute)"})
        assert (status, body) == (200, {"RuleArn": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r"})
        status, body = await call("PutRule", {"Name": "r", "ScheduleExpression": "rate(2 minute)"})
        assert status == 400
        assert body["__type"].endswith("ValidationException")
        assert body["message"] == "Parameter ScheduleExpression is not valid."
        status, body = await call("PutRule", {"Name": "bad name!", "EventPattern": "{}"})
        assert status == 400  # the botocore model's pattern check
        status, body = await call("ListRules", {})
        assert [r["Name"] for r in body["Rules"]] == ["r"]

    run(tmp_path, scenario)


def test_the_scheduler_task_with_a_fast_clock(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        await w.service.put_rule(ACCOUNT, {"Name": "tick", "ScheduleExpression": "rate(1 minute)"})
        await w.service.put_targets(ACCOUNT, {"Rule": "tick", "Targets": [{"Id": "1", "Arn": FN}]})
        # 1200x: a minute every 50 ms of wall time, from the (injected) time of creation
        loop = asyncio.get_running_loop()
        start = loop.time()

        def wall() -> float:
            return w.clock[0] + loop.time() - start

        fast = Scheduler(
            w.store, TargetDelivery(w.store, w.sink), "us-east-1",
            now=scaled_clock(1200, wall), time_scale=1200, poll_s=0.02,
        )  # fmt: skip
        await fast.start()
        await asyncio.sleep(0.4)
        await fast.close()
        assert 4 <= len(w.sink.calls) <= 9
        times = [c[3]["time"] for c in w.sink.calls]
        assert times[:3] == ["2024-01-01T09:01:00Z", "2024-01-01T09:02:00Z", "2024-01-01T09:03:00Z"]

    run(tmp_path, scenario)
