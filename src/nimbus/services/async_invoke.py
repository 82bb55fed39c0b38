"""Asynchronous invocation (InvocationType=Event): durable accept, retries, destinations.

Accepted events are committed before the 202 (EventQueue group-commits them). The
dispatcher runs due events through the Invoker with Lambda's semantics: function errors
are retried MaximumRetryAttempts times (default 2, after ~1 and ~2 minutes: configurable),
throttles and system errors are retried with backoff until MaximumEventAgeInSeconds
(default 6 h); then the OnSuccess / OnFailure destination (and the DLQ on failure) gets
AWS' invocation record. Delivery is at least once: an event is deleted only after it ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from nimbus.errors import NimbusError, ResourceNotFound, TooManyRequests
from nimbus.ids import random_uuid
from nimbus.models import FunctionRecord, Invocation
from nimbus.services.destinations import Destinations
from nimbus.services.registry import FunctionRegistry
from nimbus.store.events import AsyncEvent, EventInvokeConfigs, EventQueue
from nimbus.tasks import cancel_and_wait
from nimbus.types import Invoker

log = logging.getLogger("nimbus.async")
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21_600


@dataclass(frozen=True)
class AsyncConfig:
    retry_delays_s: tuple[float, ...] = (60.0, 120.0)  # after the 1st and 2nd failure
    throttle_backoff_s: tuple[float, float] = (1.0, 300.0)  # first, cap
    concurrency: int = 64
    poll_s: float = 1.0


def _iso(seconds: float) -> str:
    when = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class AsyncInvokeService:
    def __init__(
        self,
        queue: EventQueue,
        configs: EventInvokeConfigs,
        registry: FunctionRegistry,
        invoker: Invoker,
        destinations: Destinations,
        config: AsyncConfig,
    ) -> None:
        self.queue = queue
        self.configs = configs
        self.registry = registry
        self.invoker = invoker
        self.destinations = destinations
        self.config = config
        self._running: dict[str, asyncio.Task[None]] = {}
        self._kick = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.delivered = 0  # events finished (any outcome), for tests and stats

    async def accept(
        self,
        account: str,
        function: str,
        qualifier: str | None,
        payload: bytes,
        request_id: str | None = None,
    ) -> str:
        """Make the event durable; returns its request id. The 202 may follow."""
        now = time.time()
        event = AsyncEvent(
            request_id or random_uuid(), account, function, qualifier, payload, now, 0, now
        )
        await self.queue.enqueue(event)
        self._kick.set()
        return event.id

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._dispatch_forever())

    async def close(self) -> None:
        await cancel_and_wait(self._loop_task)
        if self._running:
            # The engine drains invocations in flight anyway: wait for them here, so their
            # completion is recorded before the queue's last commit (not re-run on restart).
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _dispatch_forever(self) -> None:
        while True:
            try:
                await self._dispatch_once()
            except Exception:
                log.exception("async dispatcher")
            wait = self.config.poll_s
            next_due = await self.queue.next_due() if not self._kick.is_set() else None
            if next_due is not None:
                wait = min(wait, max(0.0, next_due - time.time()))
            if not self._kick.is_set():  # kicked meanwhile (the usual case under load): go on
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), wait)
            self._kick.clear()

    async def _dispatch_once(self) -> None:
        free = self.config.concurrency - len(self._running)
        if free <= 0:
            return
        for event in await self.queue.due(time.time(), free, set(self._running)):
            self._running[event.id] = asyncio.create_task(self._run(event))

    async def _run(self, event: AsyncEvent) -> None:
        try:
            await self._process(event)
        except Exception:  # the row stays: it is retried at the next poll
            log.exception("async event %s", event.id)
        finally:
            self._running.pop(event.id, None)
            self._kick.set()

    async def _settings(self, account: str, function: str, qualifier: str | None) -> dict[str, Any]:
        found = await self.configs.get(account, function, qualifier or "$LATEST")
        return found or {}

    async def _process(self, event: AsyncEvent) -> None:
        try:
            record = self.registry.cached(event.account_id, event.function) or (
                await self.registry.get(event.account_id, event.function, "")
            )
        except ResourceNotFound:
            log.warning(
                "async event %s: function %s no longer exists; dropped", event.id, event.function
            )
            await self._done(event)
            return
        settings = await self._settings(event.account_id, event.function, event.qualifier)
        max_age = settings.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)
        max_retries = settings.get("MaximumRetryAttempts", DEFAULT_RETRIES)
        if time.time() - event.received > max_age:
            await self._fail(event, record, settings, "EventAgeExceeded", None)
            return
        invocation = Invocation(
            request_id=event.id, payload=event.payload or b"{}", invoked_arn=record.arn
        )
        try:
            result = await self.invoker.invoke(
                self.registry.spec(self.registry.live(record)), invocation
            )
        except (TooManyRequests, NimbusError) as e:
            # Throttles and system errors do not count as attempts: retry with backoff.
            first, cap = self.config.throttle_backoff_s
            delay = min(cap, first * 2 ** min(event.attempts, 16))
            event.last_error = e.code
            await self.queue.retry_at(event, time.time() + delay, e.code)
            return
        event.attempts += 1
        response = {"statusCode": 200, "executedVersion": result.executed_version}
        if result.function_error is None:
            await self._finish(event, record, settings, "Success", response, result.payload)
            return
        response["functionError"] = result.function_error
        if event.attempts <= max_retries:
            delays = self.config.retry_delays_s
            delay = delays[min(event.attempts - 1, len(delays) - 1)]
            await self.queue.retry_at(event, time.time() + delay, result.function_error)
            return
        await self._fail(event, record, settings, "RetriesExhausted", (response, result.payload))

    async def _fail(
        self,
        event: AsyncEvent,
        record: FunctionRecord,
        settings: dict[str, Any],
        condition: str,
        outcome: tuple[dict[str, Any], bytes] | None,
    ) -> None:
        response, payload = outcome if outcome else ({}, None)
        await self._finish(event, record, settings, condition, response, payload)
        if record.dead_letter_target:
            # AWS' DLQ message: the original event, with RequestID / ErrorCode (the invoke's
            # status: 200 for a function error) / ErrorMessage (first 1 KB) as attributes.
            error = _json_or_text(payload) if payload else None
            message = error.get("errorMessage") if isinstance(error, dict) else None
            await self.destinations.dead_letter(
                event.account_id,
                record.dead_letter_target,
                event.payload,
                event.id,
                str(response.get("statusCode") or 500),
                str(message or event.last_error or condition)[:1024],
            )

    async def _finish(
        self,
        event: AsyncEvent,
        record: FunctionRecord,
        settings: dict[str, Any],
        condition: str,
        response: dict[str, Any],
        payload: bytes | None,
    ) -> None:
        which = "OnSuccess" if condition == "Success" else "OnFailure"
        target = ((settings.get("DestinationConfig") or {}).get(which) or {}).get("Destination")
        if target:
            await self.destinations.send(
                event.account_id,
                target,
                self.destination_record(event, record, condition, response, payload),
            )
        await self._done(event)

    async def _done(self, event: AsyncEvent) -> None:
        self.queue.done([event.id])
        self.delivered += 1

    @staticmethod
    def destination_record(
        event: AsyncEvent,
        record: FunctionRecord,
        condition: str,
        response: dict[str, Any],
        payload: bytes | None,
    ) -> dict[str, Any]:
        """AWS' invocation record, as destinations receive it."""
        out: dict[str, Any] = {
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "requestContext": {
                "requestId": event.id,
                "functionArn": f"{record.arn}:{event.qualifier or '$LATEST'}",
                "condition": condition,
                "approximateInvokeCount": event.attempts,
            },
            "requestPayload": _json_or_text(event.payload),
            "responseContext": response,
        }
        if payload is not None:
            out["responsePayload"] = _json_or_text(payload)
        return out


def _json_or_text(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")


def lambda_deliverer(service: AsyncInvokeService) -> Any:
    """Destinations that are functions get the record as an asynchronous event."""
    from nimbus.services.names import parse_function_name

    async def deliver(
        account: str, target_arn: str, body: bytes, attributes: dict[str, str]
    ) -> None:
        name, qualifier, arn_account = parse_function_name(target_arn)
        await service.accept(arn_account or account, name, qualifier, body)

    return deliver
