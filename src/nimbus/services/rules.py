"""EventBridge rules on the default event bus: rules, targets and PutEvents.

Schedule rules are fired by `services.scheduler.Scheduler`; pattern rules receive the
events of PutEvents whose envelope matches their pattern.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from nimbus.errors import LimitExceeded, ResourceNotFound, ValidationError
from nimbus.protocol import event_pattern, schedule
from nimbus.services.rule_targets import TargetDelivery, valid_json_path
from nimbus.services.scheduler import iso_seconds, rule_arn
from nimbus.store.rules import Rule, RuleStore, Target

MAX_TARGETS = 5  # per rule, as AWS


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _untoken(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise ValidationError("The NextToken is not valid.") from None


def _bus(p: dict[str, Any]) -> None:
    bus = p.get("EventBusName") or "default"
    if bus != "default" and not bus.endswith(":event-bus/default"):
        raise ResourceNotFound(f"Event bus {bus} does not exist.")


class RulesService:
    def __init__(
        self,
        rules: RuleStore,
        delivery: TargetDelivery,
        region: str,
        on_change: Callable[[], None] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self.delivery = delivery
        self.region = region
        self.on_change = on_change or (lambda: None)
        self.now = now

    async def _rule(self, account: str, name: str) -> Rule:
        rule = await self.rules.get(account, name)
        if rule is None:
            raise ResourceNotFound(f"Rule {name} does not exist on EventBus default.")
        return rule

    def _describe(self, rule: Rule) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": rule.name,
            "Arn": rule_arn(self.region, rule.account_id, rule.name),
            "State": rule.state,
            "EventBusName": "default",
        }
        optional = {
            "EventPattern": rule.pattern,
            "ScheduleExpression": rule.schedule,
            "Description": rule.description,
            "RoleArn": rule.role_arn,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    # rules ---------------------------------------------------------------------------
    async def put_rule(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        _bus(p)
        name, expression, pattern = p["Name"], p.get("ScheduleExpression"), p.get("EventPattern")
        if not expression and not pattern:
            raise ValidationError(
                "Parameter(s) EventPattern or ScheduleExpression must be specified."
            )
        if expression:
            schedule.validate(expression)
        if pattern:
            event_pattern.parse(pattern)
        now = self.now()
        old = await self.rules.get(account, name)
        state = p.get("State") or (old.state if old else "ENABLED")
        restart = old is None or old.schedule != expression or old.state != state
        rule = Rule(
            account_id=account,
            name=name,
            schedule=expression or None,
            pattern=pattern or None,
            state=state,
            description=p.get("Description", old.description if old else None),
            role_arn=p.get("RoleArn", old.role_arn if old else None),
            created=old.created if old else now,
            anchor=now if restart or old is None else old.anchor,
            fired_until=now if restart or old is None else old.fired_until,
        )
        await self.rules.put(rule)
        self.on_change()
        return {"RuleArn": rule_arn(self.region, account, name)}

    async def describe_rule(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        _bus(p)
        rule = await self._rule(account, p["Name"])
        return {**self._describe(rule), "CreatedBy": account}

    async def list_rules(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        _bus(p)
        limit = p.get("Limit", 100)
        rules = await self.rules.list_rules(
            account, p.get("NamePrefix", ""), _untoken(p.get("NextToken")), limit + 1
        )
        out: dict[str, Any] = {"Rules": [self._describe(r) for r in rules[:limit]]}
        if len(rules) > limit:
            out["NextToken"] = _token(rules[limit - 1].name)
        return out

    async def delete_rule(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        _bus(p)
        if await self.rules.count_targets(account, p["Name"]):
            raise ValidationError("Rule can't be deleted since it has targets.")
        await self.rules.delete(account, p["Name"])
        self.on_change()
        return {}

    async def _set_state(self, account: str, p: dict[str, Any], state: str) -> dict[str, Any]:
        _bus(p)
        if not await self.rules.set_state(account, p["Name"], state, self.now()):
            raise ResourceNotFound(f"Rule {p['Name']} does not exist on EventBus default.")
        self.on_change()
        return {}

    async def enable_rule(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return await self._set_state(account, p, "ENABLED")

    async def disable_rule(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return await self._set_state(account, p, "DISABLED")

    # targets -------------------------------------------------------------------------
    async def put_targets(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        _bus(p)
        rule = await self._rule(account, p["Rule"])
        targets = [Target(t["Id"], t["Arn"], t) for t in p["Targets"]]
        for target in targets:
            _check_target(target.config)
        existing = {t.id for t in await self.rules.targets(account, rule.name)}
        if len(existing | {t.id for t in targets}) > MAX_TARGETS:
            raise LimitExceeded("The requested resource exceeds the maximum number allowed.")
        await self.rules.put_targets(account, rule.name, targets)
        return {"FailedEntryCount": 0, "FailedEntries": []}

    async def remove_targets(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        _bus(p)
        rule = await self._rule(account, p["Rule"])
        await self.rules.remove_targets(account, rule.name, list(p["Ids"]))
        return {"FailedEntryCount": 0, "FailedEntries": []}

    async def list_targets_by_rule(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        _bus(p)
        rule = await self._rule(account, p["Rule"])
        targets = await self.rules.targets(account, rule.name)
        after = _untoken(p.get("NextToken"))
        if after is not None:
            targets = [t for t in targets if t.id > after]
        limit = p.get("Limit", 100)
        out: dict[str, Any] = {"Targets": [t.config for t in targets[:limit]]}
        if len(targets) > limit:
            out["NextToken"] = _token(targets[limit - 1].id)
        return out

    # events --------------------------------------------------------------------------
    async def put_events(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        patterns: list[tuple[Rule, dict[str, Any]]] | None = None
        results: list[dict[str, Any]] = []
        for entry in p["Entries"]:
            event = self._envelope(account, entry)
            if "ErrorCode" in event:
                results.append(event)
                continue
            if patterns is None:
                rules = await self.rules.enabled_patterns(account)
                patterns = [(r, orjson.loads(r.pattern or "{}")) for r in rules]
            for rule, pattern in patterns:
                if event_pattern.matches(pattern, event):
                    await self.delivery.deliver(account, rule.name, event)
            results.append({"EventId": event["id"]})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}

    def _envelope(self, account: str, entry: dict[str, Any]) -> dict[str, Any]:
        for field in ("Source", "DetailType", "Detail"):
            if not entry.get(field):
                return {
                    "ErrorCode": "InvalidArgument",
                    "ErrorMessage": f"Parameter {field} is not valid. Reason: {field} is a "
                    "required argument.",
                }
        bus = entry.get("EventBusName") or "default"
        if bus != "default" and not bus.endswith(":event-bus/default"):
            return {
                "ErrorCode": "NotAuthorizedForSourceException",
                "ErrorMessage": "Not authorized for the source.",
            }
        try:
            detail = orjson.loads(entry["Detail"])
        except orjson.JSONDecodeError:
            detail = None
        if not isinstance(detail, dict):
            return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
        when = entry.get("Time")
        moment = (
            dt.datetime.fromtimestamp(float(when), dt.UTC)
            if isinstance(when, int | float)
            else dt.datetime.fromtimestamp(self.now(), dt.UTC)
        )
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": account,
            "time": iso_seconds(moment),
            "region": self.region,
            "resources": list(entry.get("Resources") or []),
            "detail": detail,
        }


def _check_target(config: dict[str, Any]) -> None:
    given = [k for k in ("Input", "InputPath", "InputTransformer") if k in config]
    if len(given) > 1:
        raise ValidationError("Only one of Input, InputPath, or InputTransformer can be provided.")
    if "Input" in config:
        try:
            orjson.loads(config["Input"])
        except orjson.JSONDecodeError:
            raise ValidationError(f"Target {config['Id']} has invalid Input: not JSON.") from None
    if "InputPath" in config and not valid_json_path(config["InputPath"]):
        raise ValidationError(f"Target {config['Id']} has an invalid InputPath.")
