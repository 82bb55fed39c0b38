"""Delivering an event to a rule's targets: Input / InputPath, then the target's service.

Lambda targets (arn:aws:lambda:...:function:NAME[:QUALIFIER]) are invoked asynchronously
through the async-invoke service, so its retries, destinations and DLQ apply. Queue and
topic targets go through the destination deliverers (the same ones async destinations use).
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


class OtherTargets(Protocol):
    """Non-Lambda targets (services.destinations.Destinations.deliver)."""

    async def deliver(
        self, account: str, target_arn: str, body: bytes, attributes: dict[str, str]
    ) -> bool: ...


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


def render(config: dict[str, Any], event: dict[str, Any], rule: str = "") -> bytes | None:
    """The payload a target receives: Input (literal JSON), InputPath's selection, the
    InputTransformer's template, or the event. None when InputPath selects nothing."""
    if "Input" in config:
        return str(config["Input"]).encode()
    if "InputPath" in config:
        selected = select(config["InputPath"], event)
        return None if selected is _MISSING else orjson.dumps(selected)
    if "InputTransformer" in config:
        return transform(config["InputTransformer"], event, rule).encode()
    return orjson.dumps(event)


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")


def transform(transformer: dict[str, Any], event: dict[str, Any], rule: str) -> str:
    """EventBridge's InputTransformer: InputPathsMap names values, InputTemplate places them.

    Inside a JSON string a value goes in as text; elsewhere as JSON (a string is quoted).
    A path that selects nothing gives null (or nothing inside a string), as AWS does.
    """
    values: dict[str, Any] = {
        "aws.events.event": event,
        "aws.events.event.json": event,
        "aws.events.rule-name": rule,
        "aws.events.event.ingestion-time": event.get("time"),
    }
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        selected = select(str(path), event)
        values[name] = None if selected is _MISSING else selected
    template = str(transformer.get("InputTemplate", ""))
    out: list[str] = []
    in_string = False
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        out.append(template[position : match.start()])
        in_string ^= _quotes_toggle(template[position : match.start()])
        position = match.end()
        name = match.group(1)
        if name not in values:
            out.append(match.group(0))
            continue
        value = values[name]
        if in_string:
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            out.append("" if value is None else orjson.dumps(text).decode()[1:-1])
        else:
            out.append(orjson.dumps(value).decode())
    out.append(template[position:])
    return "".join(out)


def _quotes_toggle(text: str) -> bool:
    """True when `text` holds an odd number of unescaped double quotes."""
    count = 0
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            count += 1
    return count % 2 == 1


class TargetDelivery:
    def __init__(
        self, rules: RuleStore, sink: EventSink, others: OtherTargets | None = None
    ) -> None:
        self.rules = rules
        self.sink = sink
        self.others = others

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
        payload = render(target.config, event, rule)
        if payload is None:
            log.info("rule %s: InputPath of target %s selects nothing", rule, target.id)
            return False
        if target.arn.startswith("arn:") and target.arn.split(":")[2] == "lambda":
            name, qualifier, arn_account = parse_function_name(target.arn)
            await self.sink.accept(arn_account or account, name, qualifier, payload)
            return True
        if self.others is not None:
            return await self.others.deliver(account, target.arn, payload, {})
        log.warning("rule %s: target %s (%s) is not available yet", rule, target.id, target.arn)
        return False
