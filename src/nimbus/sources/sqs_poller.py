"""Pollers of SQS event source mappings.

Each enabled mapping has a `QueuePoller`: workers that each gather a batch (up to
BatchSize, waiting up to MaximumBatchingWindowInSeconds, under 6 MB) and run it
(sqs_poller_batch.py), one invocation at a time per worker. The number of workers follows
the queue's backlog, up to min(ScalingConfig.MaximumConcurrency, the function's reserved
concurrency, the configured ceiling); a throttle stops the growth for a while. FIFO order
per message group is the queue's business: it hands out no message of a group that has
messages in flight, so one batch per group is in flight.

`SqsPollers` is the mapping service's `MappingRunner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass

from nimbus.errors import NimbusError, ResourceNotFound
from nimbus.protocol import sqs_event
from nimbus.services.contracts import QueueConsumer, ReceivedMessage
from nimbus.services.registry import FunctionRegistry
from nimbus.sources.sqs_poller_batch import MAX_PAYLOAD, BatchRunner, Settings, split_payload
from nimbus.store.mappings import Mapping
from nimbus.tasks import cancel_and_wait
from nimbus.types import Invoker

log = logging.getLogger("nimbus.esm")


@dataclass(frozen=True)
class PollerConfig:
    max_concurrency: int = 1000  # per mapping without ScalingConfig (AWS: 1,250 for SQS)
    poll_wait_s: float = 1.0  # one receive's long poll: how soon an idle worker sees a stop
    scale_every_s: float = 0.5
    throttle_hold_s: float = 1.0  # no growth this long after a throttle
    idle_retire_s: float = 2.0  # a surplus worker that found nothing this long leaves
    initial_workers: int = 5  # as AWS' first pollers
    growth_period_s: float = 1.0  # a step's effect is measured over this long


class QueuePoller:
    def __init__(
        self,
        settings: Settings,
        consumer: QueueConsumer,
        registry: FunctionRegistry,
        invoker: Invoker,
        config: PollerConfig,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.registry = registry
        self.config = config
        self.batches = BatchRunner(consumer, registry, invoker)
        self._workers: set[asyncio.Task[None]] = set()
        self._scaler: asyncio.Task[None] | None = None
        self._stopping = False
        self._kick = asyncio.Event()
        self.peak_workers = 0
        self._target = 1  # workers the backlog asks for
        self._ceiling_now = 1  # the most workers allowed
        self._period_start = 0.0  # growth: records handled since then, rate before
        self._period_records = 0
        self._baseline: float | None = None
        self._source_error = False

    def start(self) -> None:
        self._scaler = asyncio.create_task(self._scale_forever())

    async def stop(self) -> None:
        """No new batches; waits for those in flight (idle workers leave after one poll)."""
        self._stopping = True
        await cancel_and_wait(self._scaler)
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)

    # scaling ----------------------------------------------------------------------------
    async def _ceiling(self) -> int:
        s = self.settings
        ceiling = s.max_concurrency or self.config.max_concurrency
        try:
            record = await self.registry.get(s.account, s.function, s.region)
        except ResourceNotFound:
            self._ceiling_now = 0  # nothing is received for a function that is gone
            return 0
        if record.reserved_concurrency is not None:
            ceiling = min(ceiling, record.reserved_concurrency)
        self._ceiling_now = ceiling if record.state == "Active" else 0
        return self._ceiling_now

    async def _wanted(self) -> int:
        ceiling = await self._ceiling()
        try:
            backlog = await self.consumer.backlog(self.settings.queue_arn)
        except NimbusError as e:
            if not self._source_error:  # said once, not at every tick
                log.warning("mapping %s: %s", self.settings.uuid, e.message)
            self._source_error = True
            return 0
        self._source_error = False
        wanted = max(1, math.ceil(backlog / self.settings.batch_size))
        if time.monotonic() - self.batches.throttled_at < self.config.throttle_hold_s:
            wanted = min(wanted, len(self._workers))
        return min(wanted, ceiling)

    async def _scale_forever(self) -> None:
        while not self._stopping:
            try:
                wanted = await self._wanted()
                self._target = wanted
                for _ in range(self._growth(wanted)):
                    task = asyncio.create_task(self._work())
                    self._workers.add(task)
                    task.add_done_callback(self._workers.discard)
                self.peak_workers = max(self.peak_workers, len(self._workers))
            except Exception:
                log.exception("mapping %s: scaling", self.settings.uuid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.config.scale_every_s)
            self._kick.clear()

    def _growth(self, wanted: int) -> int:
        """Workers to add now. The backlog says how many could be busy; growth goes in steps
        and continues only while each step raised the records handled per second: on a
        small machine more environments than cores only add cold starts and contention."""
        current = len(self._workers)
        if current >= wanted:
            return 0
        if current == 0:
            self._period_start = time.monotonic()
            self._period_records = self.batches.stats.records
            return min(wanted, self.config.initial_workers)
        now = time.monotonic()
        elapsed = now - self._period_start
        if elapsed < self.config.growth_period_s:
            return 0
        rate = (self.batches.stats.records - self._period_records) / elapsed
        self._period_start, self._period_records = now, self.batches.stats.records
        improved = self._baseline is None or rate > self._baseline * 1.1
        self._baseline = rate
        if not improved:
            return 0  # hold; the next period may try again
        return min(wanted - current, max(1, current // 2))

    # workers ----------------------------------------------------------------------------
    async def _work(self) -> None:
        carry: list[ReceivedMessage] = []
        idle_since = time.monotonic()
        while True:
            if not carry:
                if self._stopping or len(self._workers) > self._ceiling_now:
                    return
                idle = time.monotonic() - idle_since > self.config.idle_retire_s
                if idle and len(self._workers) > self._target:
                    return  # the backlog shrank: one worker fewer
            try:
                messages = await self._collect(carry)
                carry = []
                if not messages:
                    continue
                idle_since = time.monotonic()
                if len(messages) >= self.settings.batch_size:
                    self._kick.set()  # full batches: maybe more workers
                records, payload, carry = split_payload(self.settings, messages)
                await self.batches.run(self.settings, records, payload)
            except NimbusError as e:  # the queue is gone (or the like): the scaler decides
                log.warning("mapping %s: %s: %s", self.settings.uuid, e.code, e.message)
                self._target = 0
                await asyncio.sleep(self.config.poll_wait_s)
                return  # a carried-over rest comes back after the visibility timeout
            except Exception:
                log.exception("mapping %s: batch", self.settings.uuid)
                await asyncio.sleep(1.0)

    async def _collect(self, carry: list[ReceivedMessage]) -> list[ReceivedMessage]:
        """A batch: `carry` (left over from the last one) and what the queue has, waiting up
        to the batching window (from the first message) for BatchSize or 6 MB."""
        s = self.settings
        got = list(carry)
        size = sum(sqs_event.size_estimate(m) for m in got)
        deadline = time.monotonic() + s.window_s if got else None
        while len(got) < s.batch_size and size < MAX_PAYLOAD:
            if self._stopping and (got or deadline is None):
                break
            if deadline is None:
                wait = self.config.poll_wait_s
            else:
                wait = deadline - time.monotonic()
                if wait <= 0 and s.window_s > 0:
                    break
                wait = min(max(wait, 0.0), self.config.poll_wait_s)
            if await self._ceiling() == 0:
                await asyncio.sleep(self.config.poll_wait_s)
                return got
            received = await self.consumer.receive_batch(s.queue_arn, s.batch_size - len(got), wait)
            if not received:
                if deadline is None or s.window_s == 0:
                    break
                continue
            if deadline is None:
                deadline = time.monotonic() + s.window_s
            got += received
            size += sum(sqs_event.size_estimate(m) for m in received)
            if s.window_s == 0:
                break
        return got


class SqsPollers:
    """One QueuePoller per enabled mapping (the mapping service's MappingRunner)."""

    def __init__(
        self,
        consumer: QueueConsumer,
        registry: FunctionRegistry,
        invoker: Invoker,
        config: PollerConfig | None = None,
    ) -> None:
        self.consumer = consumer
        self.registry = registry
        self.invoker = invoker
        self.config = config or PollerConfig()
        self.pollers: dict[str, QueuePoller] = {}

    def run(self, mapping: Mapping) -> None:
        settings = Settings.of(mapping)
        poller = self.pollers.get(mapping.uuid)
        if poller is not None:
            poller.settings = settings  # workers pick it up with their next batch
            return
        poller = QueuePoller(settings, self.consumer, self.registry, self.invoker, self.config)
        self.pollers[mapping.uuid] = poller
        poller.start()

    async def halt(self, uuid: str) -> None:
        poller = self.pollers.pop(uuid, None)
        if poller is not None:
            await poller.stop()

    async def close(self) -> None:
        pollers, self.pollers = list(self.pollers.values()), {}
        await asyncio.gather(*(p.stop() for p in pollers), return_exceptions=True)
