"""Warm environments of one function version, most recently used first."""

from __future__ import annotations

import time

from nimbus.engine.environment import Environment


class FunctionPool:
    def __init__(self) -> None:
        self.idle: list[Environment] = []  # a stack: the warmest environment is on top
        self.busy = 0
        self.starting = 0

    def take_idle(self) -> Environment | None:
        while self.idle:
            env = self.idle.pop()
            if env.alive and not env.doomed:
                return env
        return None

    def put_back(self, env: Environment) -> None:
        env.last_used = time.monotonic()
        self.idle.append(env)

    def expired(self, keep_alive_s: float, now: float) -> list[Environment]:
        """Remove and return idle environments unused for longer than keep_alive_s."""
        stale = [e for e in self.idle if now - e.last_used > keep_alive_s or not e.alive]
        if stale:
            self.idle = [e for e in self.idle if e not in stale]
        return stale

    @property
    def empty(self) -> bool:
        return not self.idle and not self.busy and not self.starting
