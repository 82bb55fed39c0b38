"""How the engine talks to the runtime inside one environment.

Two transports with identical semantics (Lambda's Runtime API): Nimbus' own
Python runtime uses a private socketpair (`ChannelTransport`), custom
`provided` runtimes speak HTTP (`runtime_server.HttpTransport`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from nimbus.models import Invocation


@dataclass(slots=True)
class Outcome:
    """What the runtime answered: a response, a function error, or an init error."""

    kind: str  # "response" | "error" | "init_error"
    body: bytes
    content_type: str = "application/json"
    error_type: str | None = None  # Lambda-Runtime-Function-Error-Type, when given


class EnvironmentGone(Exception):
    """The environment's process exited (or was killed) before answering."""


class Transport(Protocol):
    def ready(self) -> asyncio.Future[Outcome | None]:
        """Resolves to None once the runtime asks for its first event (INIT done),
        or to an init_error Outcome. Fails with EnvironmentGone if the process dies."""
        ...

    def invoke(self, invocation: Invocation) -> asyncio.Future[Outcome]:
        """Deliver one event; resolves with the runtime's answer."""
        ...

    def abort(self, reason: str) -> None:
        """The process is gone: fail pending futures with EnvironmentGone(reason)."""
        ...

    def close(self) -> None: ...


def settle(future: asyncio.Future[Any], value: Any) -> None:
    """Resolve a transport future unless it already is (an answer after an abort)."""
    if not future.done():
        future.set_result(value)


def fail(future: asyncio.Future[Any], reason: str) -> None:
    if not future.done():
        future.set_exception(EnvironmentGone(reason))
        future.exception()  # mark retrieved: nobody may be waiting any more
