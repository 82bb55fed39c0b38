"""Where an engine's environments run: CPU placement (sandbox/placement.py) applied.

While placement is active, an environment whose invocation runs longer than
RELEASE_AFTER_S (or whose INIT runs longer than INIT_RELEASE_AFTER_S) is spread over every
CPU, and comes back to the server's CPU after REPIN_AFTER short invocations in a row.

NIMBUS_CPU_PLACEMENT=auto: pinned while invocations come one at a time, spread once they
overlap.

Pinning the server and its environments to one CPU (sandbox/placement.py) makes the round
trip of a lone invocation cheaper (no cross-CPU wake-up), but one CPU doing the server's
and the environments' work serves a third fewer invocations once several run at once. So
the engine starts spread and watches how many invocations are in flight:

- the moment a second one is admitted while pinned, everything is spread at once (the
  server's threads and every environment; a few system calls per environment);
- after PIN_AFTER_TICKS ticks of TICK_S in which invocations kept coming, one at a time,
  everything is pinned, except an environment in the middle of an invocation: it counts
  as released and comes back after short runs, as a long-running one does;
- a tick without any invocation spreads everything again: the rest of the server (S3,
  SQS, its store's writer threads) gets every CPU back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable

from nimbus.engine.environment import Environment
from nimbus.sandbox.placement import (
    INIT_RELEASE_AFTER_S,
    RELEASE_AFTER_S,
    REPIN_AFTER,
    CpuPlacement,
    set_affinity,
    threads,
)

TICK_S = 0.05
PIN_AFTER_TICKS = 4  # 200 ms of invocations one at a time


class PlacementSwitch:
    def __init__(
        self, placement: CpuPlacement, environments: Callable[[], Iterable[Environment]]
    ) -> None:
        self.placement = placement
        self.active: CpuPlacement | None = None  # `placement` while pinned, else None
        self.switches = 0
        self._environments = environments
        self._peak = 0  # most invocations in flight since the last tick
        self._calm_ticks = 0

    def admitted(self, in_flight: int) -> None:
        """An invocation was admitted; `in_flight` counts it."""
        if in_flight > self._peak:
            self._peak = in_flight
            if in_flight > 1 and self.active is not None:
                self.spread()

    async def run(self, in_flight: Callable[[], int]) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.tick(in_flight())

    def tick(self, in_flight: int) -> None:
        peak, self._peak = max(self._peak, in_flight), in_flight
        if peak != 1:  # overlapping (spread already), or idle
            self._calm_ticks = 0
            if peak == 0 and self.active is not None:
                self.spread()
            return
        self._calm_ticks += 1
        if self.active is None and self._calm_ticks >= PIN_AFTER_TICKS:
            self.pin()

    def pin(self) -> None:
        placement = self.active = self.placement
        self.switches += 1
        placement.pin_this_process()
        for env in self._environments():
            if not env.alive:
                continue
            if env.timer is not None:  # running now: it may be a long one
                env.released, env.short_runs = True, 0
            else:
                env.released = False
                placement.pin(env.tasks())

    def spread(self) -> None:
        placement, self.active = self.placement, None
        self.switches += 1
        set_affinity(threads(os.getpid()), placement.spread)
        for env in self._environments():
            if env.alive and not env.released:
                placement.release(env.tasks())
            env.released = False


class Placing:
    """An engine's placement: fixed (`pinned`), switched (`auto`) or none (`spread`)."""

    def __init__(
        self, placement: CpuPlacement | None, environments: Callable[[], Iterable[Environment]]
    ) -> None:
        adaptive = placement is not None and placement.adaptive
        self._fixed = None if adaptive else placement
        self.switch = PlacementSwitch(placement, environments) if placement and adaptive else None

    @property
    def current(self) -> CpuPlacement | None:
        """The placement invocations get now (None: left to the kernel)."""
        return self.switch.active if self.switch is not None else self._fixed

    def admitted(self, in_flight: int) -> None:
        if self.switch is not None:
            self.switch.admitted(in_flight)

    def launched(self, env: Environment) -> asyncio.TimerHandle | None:
        """A new environment (INIT starting): placed now; the timer that spreads it if its
        INIT is heavy (cancel it once INIT is over), if any."""
        placement = self.current
        if placement is None:
            if self.switch is not None:  # its zygote may have been forked while pinned
                self.switch.placement.release([env.pid])
            return None
        placement.pin([env.pid])  # (`pinned`: inherited from `nimbus server` already)
        return asyncio.get_running_loop().call_later(INIT_RELEASE_AFTER_S, self.release, env)

    def arm_deadline(self, env: Environment, timeout_s: float) -> None:
        """The invocation's timeout; first, while the environment is on the server's CPU,
        the moment it stops counting as short and is spread over every CPU."""
        loop = asyncio.get_running_loop()
        if self.current is None or env.released or timeout_s <= RELEASE_AFTER_S:
            env.timer = loop.call_later(timeout_s, env.expire)
            return

        def long_running() -> None:
            self.release(env)
            env.timer = loop.call_later(timeout_s - RELEASE_AFTER_S, env.expire)

        env.timer = loop.call_later(RELEASE_AFTER_S, long_running)

    def release(self, env: Environment) -> None:
        placement = self.current  # None if `auto` spread everything since it was armed
        if placement is not None and env.alive and not env.released:
            env.released, env.short_runs = True, 0
            placement.release(env.tasks())

    def finished(self, env: Environment, duration_ms: float) -> None:
        """A released environment comes back after REPIN_AFTER short runs in a row."""
        placement = self.current
        if placement is None or not env.released or not env.alive:
            return
        if duration_ms >= RELEASE_AFTER_S * 1000:
            env.short_runs = 0
            return
        env.short_runs += 1
        if env.short_runs >= REPIN_AFTER:
            env.released = False
            placement.pin(env.tasks())
