"""Interfaces between layers. Services and sources depend on these, never on concrete classes."""

from __future__ import annotations

from typing import Protocol

from nimbus.models import FunctionSpec, Invocation, InvocationRecord, InvokeResult


class Invoker(Protocol):
    """Runs one invocation of a function version to completion (the data plane's API)."""

    async def invoke(self, spec: FunctionSpec, invocation: Invocation) -> InvokeResult:
        """Raises TooManyRequests when a concurrency limit is reached,
        RequestTooLarge for a payload over 6 MB, RuntimeNotInstalled for a missing runtime."""
        ...

    async def prewarm(self, spec: FunctionSpec, count: int) -> int:
        """Start environments ahead of traffic; returns how many are now idle."""
        ...

    async def retire(self, function_arn: str) -> None:
        """Destroy every environment of a function (after its code or config changed)."""
        ...


class LogSink(Protocol):
    def write(self, group: str, stream: str, text: str) -> None: ...


class MeteringSink(Protocol):
    def record(self, record: InvocationRecord) -> None: ...
