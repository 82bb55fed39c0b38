"""Warm environments of one function version, most recently used first.

Cold starts of one version are gated: at most `max_starting` INITs run at once (a burst of
100 events must not start 100 interpreters on 2 cores, each slowing all the others). A
request over the gate waits, and takes whichever comes first: an environment another
request releases (handed over directly) or a free start slot.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from nimbus.engine.environment import Environment


class FunctionPool:
    def __init__(self, max_starting: int = 1_000_000) -> None:
        self.idle: list[Environment] = []  # a stack: the warmest environment is on top
        self.busy = 0
        self.starting = 0
        self.max_starting = max_starting
        self._waiters: deque[asyncio.Future[Environment | None]] = deque()

    def take_idle(self) -> Environment | None:
        while self.idle:
            env = self.idle.pop()
            if env.alive and not env.doomed:
                return env
        return None

    async def acquire(self) -> Environment | None:
        """A warm environment, or None: the caller may cold-start one (it must call
        `started()` once that start is over, whatever its outcome)."""
        env = self.take_idle()
        while env is None and self.starting >= self.max_starting:
            waiter: asyncio.Future[Environment | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                env = await waiter
            except asyncio.CancelledError:
                handed = waiter.result() if waiter.done() and not waiter.cancelled() else None
                if handed is not None:
                    self.put_back(handed)  # handed over as we were cancelled
                elif waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass the start slot on
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        if env is None:
            self.starting += 1
        return env

    def started(self) -> None:
        self.starting -= 1
        self._wake_one()

    def put_back(self, env: Environment) -> None:
        env.last_used = time.monotonic()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(env)
                return
        self.idle.append(env)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def expired(self, keep_alive_s: float, now: float) -> list[Environment]:
        """Remove and return idle environments unused for longer than keep_alive_s."""
        stale = [e for e in self.idle if now - e.last_used > keep_alive_s or not e.alive]
        if stale:
            self.idle = [e for e in self.idle if e not in stale]
        return stale

    @property
    def empty(self) -> bool:
        return not self.idle and not self.busy and not self.starting and not self._waiters
