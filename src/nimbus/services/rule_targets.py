"""Delivering an event to a rule's targets: Input / InputPath, then the target's service.

Lambda targets (arn:aws:lambda:...:function:NAME[:QUALIFIER]) are invoked asynchronously
through the async-invoke service, so its retries, destinations and DLQ apply. Other
target types are not available yet: the event is skipped with a warning.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

import orjson

from nimbus.errors import NimbusError
from nimbus.services.names import parse_function_name
from nimbus.store.rules import RuleStore, Target

log = logging.getLogger("nimbus.events")
_STEP = re.compile(r"\.([A-Za-z0-9_$@-]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_MISSING = object()


class EventSink(Protocol):
    """Where Lambda-bound events go (AsyncInvokeService.accept)."""

    async def accept(
        self, account: str, function: str, qualifier: str | None, payload: bytes
    ) -> str: ...


def valid_json_path(path: str) -> bool:
    if not path.startswith("$"):
        return False
    rest = path[1:]
    position = 0
    while position < len(rest):
        step = _STEP.match(rest, position)
        if step is None:
            return False
        position = step.end()
    return True


def select(path: str, document: Any) -> Any:
    """The part of `document` at a JSONPath like `$.detail.items[0]` (or _MISSING)."""
    value = document
    for step in _STEP.finditer(path[1:]):
        key = step.group(1) or step.group(3) or step.group(4)
        if step.group(2) is not None:
            index = int(step.group(2))
            if not isinstance(value, list) or index >= len(value):
                return _MISSING
            value = value[index]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            return _MISSING
    return value


def render(config: dict[str, Any], event: dict[str, Any]) -> bytes | None:
    """The payload a target receives: Input (literal JSON), InputPath's selection, or the
    event. None when InputPath selects nothing."""
    if "Input" in config:
        return str(config["Input"]).encode()
    if "InputPath" in config:
        selected = select(config["InputPath"], event)
        return None if selected is _MISSING else orjson.dumps(selected)
    if "InputTransformer" in config:
        log.warning("InputTransformer is not supported yet: delivering the whole event")
    return orjson.dumps(event)


class TargetDelivery:
    def __init__(self, rules: RuleStore, sink: EventSink) -> None:
        self.rules = rules
        self.sink = sink

    async def deliver(self, account: str, rule: str, event: dict[str, Any]) -> int:
        """Hand `event` to every target of the rule; returns how many accepted it."""
        delivered = 0
        for target in await self.rules.targets(account, rule):
            try:
                if await self._one(account, rule, target, event):
                    delivered += 1
            except NimbusError as e:
                log.warning("rule %s: target %s refused the event: %s", rule, target.id, e)
        return delivered

    async def _one(self, account: str, rule: str, target: Target, event: dict[str, Any]) -> bool:
        payload = render(target.config, event)
        if payload is None:
            log.info("rule %s: InputPath of target %s selects nothing", rule, target.id)
            return False
        if target.arn.startswith("arn:") and target.arn.split(":")[2] == "lambda":
            name, qualifier, arn_account = parse_function_name(target.arn)
            await self.sink.accept(arn_account or account, name, qualifier, payload)
            return True
        log.warning("rule %s: target %s (%s) is not available yet", rule, target.id, target.arn)
        return False
