"""One batch of an SQS event source mapping: filter, invoke synchronously, settle.

Settling follows Lambda: records that match no filter are deleted without an invocation;
after a successful invocation the batch is deleted (with ReportBatchItemFailures: all but
the messages the response names; a response that cannot be read fails the whole batch);
after a function error nothing is deleted, so the messages come back after the queue's
visibility timeout and its redrive policy applies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from nimbus.errors import NimbusError, TooManyRequests
from nimbus.ids import random_uuid
from nimbus.models import Invocation
from nimbus.protocol import event_pattern, sqs_event
from nimbus.services.contracts import QueueConsumer, ReceivedMessage
from nimbus.services.registry import FunctionRegistry
from nimbus.store.mappings import Mapping
from nimbus.types import Invoker

log = logging.getLogger("nimbus.esm")
MAX_PAYLOAD = 6 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """What a mapping's pollers need, taken from its stored configuration."""

    uuid: str
    account: str
    function: str
    function_arn: str
    queue_arn: str
    region: str
    batch_size: int
    window_s: float
    filters: tuple[dict[str, Any], ...]
    report_failures: bool
    max_concurrency: int | None

    @classmethod
    def of(cls, mapping: Mapping) -> Settings:
        config = mapping.config
        filters = tuple(
            event_pattern.parse(f["Pattern"])
            for f in (config.get("FilterCriteria") or {}).get("Filters") or []
            if f.get("Pattern")
        )
        return cls(
            uuid=mapping.uuid,
            account=mapping.account_id,
            function=mapping.function_name,
            function_arn=config["FunctionArn"],
            queue_arn=mapping.event_source_arn,
            region=sqs_event.queue_region(mapping.event_source_arn),
            batch_size=int(config["BatchSize"]),
            window_s=float(config.get("MaximumBatchingWindowInSeconds") or 0),
            filters=filters,
            report_failures="ReportBatchItemFailures"
            in (config.get("FunctionResponseTypes") or []),
            max_concurrency=(config.get("ScalingConfig") or {}).get("MaximumConcurrency"),
        )


@dataclass
class Stats:
    invocations: int = 0
    records: int = 0  # handed to the function (the scaler's measure of progress)
    function_errors: int = 0
    throttles: int = 0
    deleted: int = 0
    filtered: int = 0


def split_payload(
    settings: Settings, messages: list[ReceivedMessage]
) -> tuple[list[dict[str, Any]], bytes, list[ReceivedMessage]]:
    """(records, payload, overflow): the longest prefix under 6 MB; the rest waits."""
    records = [sqs_event.record(m, settings.queue_arn, settings.region) for m in messages]
    payload = sqs_event.event(records)
    keep = len(records)
    while len(payload) > MAX_PAYLOAD and keep > 1:
        keep = max(1, keep * MAX_PAYLOAD // len(payload) - 1)
        payload = sqs_event.event(records[:keep])
    return records[:keep], payload, messages[keep:]


class BatchRunner:
    """Runs batches of one mapping; shared by its workers."""

    def __init__(
        self,
        consumer: QueueConsumer,
        registry: FunctionRegistry,
        invoker: Invoker,
        throttle_backoff_s: tuple[float, float] = (0.1, 2.0),
        throttle_give_up_s: float = 30.0,
    ) -> None:
        self.consumer = consumer
        self.registry = registry
        self.invoker = invoker
        self.backoff = throttle_backoff_s
        self.give_up_s = throttle_give_up_s
        self.stats = Stats()
        self.throttled_at = 0.0  # monotonic time of the last throttle (scaling holds back)

    async def run(self, settings: Settings, records: list[dict[str, Any]], payload: bytes) -> None:
        delete: list[str] = []
        if settings.filters:
            kept = [r for r in records if _matches(settings, r)]
            if len(kept) != len(records):
                kept_ids = {id(r) for r in kept}
                delete += [r["receiptHandle"] for r in records if id(r) not in kept_ids]
                self.stats.filtered += len(records) - len(kept)
                records = kept
                payload = sqs_event.event(records) if records else b""
        if records:
            delete += await self._invoke(settings, records, payload)
        if delete:
            await self.consumer.delete_batch(settings.queue_arn, delete)
            self.stats.deleted += len(delete)

    async def _invoke(
        self, settings: Settings, records: list[dict[str, Any]], payload: bytes
    ) -> list[str]:
        """The receipt handles to delete after running the function on `records`."""
        giving_up = time.monotonic() + self.give_up_s
        attempt = 0
        while True:
            try:
                record = await self.registry.get(
                    settings.account, settings.function, settings.region
                )
                spec = self.registry.spec(self.registry.live(record))
                invocation = Invocation(
                    request_id=random_uuid(), payload=payload, invoked_arn=settings.function_arn
                )
                result = await self.invoker.invoke(spec, invocation)
                break
            except TooManyRequests:
                self.stats.throttles += 1
                self.throttled_at = time.monotonic()
                if time.monotonic() > giving_up:  # the messages reappear after the timeout
                    return []
                first, cap = self.backoff
                await asyncio.sleep(min(cap, first * 2**attempt))
                attempt += 1
            except NimbusError as e:
                log.warning("mapping %s: %s: %s", settings.uuid, e.code, e.message)
                return []
        self.stats.invocations += 1
        self.stats.records += len(records)
        if result.function_error is not None:
            self.stats.function_errors += 1
            return []
        handles = [r["receiptHandle"] for r in records]
        if not settings.report_failures:
            return handles
        try:
            failed = sqs_event.failed_items(result.payload, {r["messageId"] for r in records})
        except ValueError as e:
            log.info("mapping %s: the batch failed: %s", settings.uuid, e)
            return []
        return [r["receiptHandle"] for r in records if r["messageId"] not in failed]


def _matches(settings: Settings, record: dict[str, Any]) -> bool:
    view = sqs_event.filter_view(record)
    return any(event_pattern.matches(pattern, view) for pattern in settings.filters)
