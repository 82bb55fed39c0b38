"""A function's state after a change: Pending -> Active (or Failed, with the reason) once
its runtime is ready; a failed update is rolled back to the previous revision, as AWS does."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Protocol

import msgspec

from nimbus.errors import NimbusError, ResourceNotFound
from nimbus.models import FunctionRecord
from nimbus.services.function_code import FunctionCode
from nimbus.services.registry import FunctionRegistry
from nimbus.types import Invoker

log = logging.getLogger("nimbus.functions")

_ACTIVE = {
    "state": "Active",
    "state_reason": None,
    "state_reason_code": None,
    "last_update_status": "Successful",
    "last_update_status_reason": None,
    "last_update_status_reason_code": None,
}


class RuntimeChecker(Protocol):
    async def ensure_runtime(self, runtime: str) -> None:
        """Raise RuntimeNotInstalled (with what to do) or start the runtime's zygote."""
        ...


class RecordLocks:
    """Read-modify-write of one function's record (activation, updates, tags) one at a
    time: tags do not change the RevisionId the store compares, so only this stops a stale
    writer from undoing another's change."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def __call__(self, account: str, name: str) -> asyncio.Lock:
        return self._locks.setdefault((account, name), asyncio.Lock())


class Activation:
    def __init__(
        self,
        registry: FunctionRegistry,
        runtimes: RuntimeChecker,
        invoker: Invoker,
        code: FunctionCode,
        writing: RecordLocks,
        region: str,
    ) -> None:
        self.registry = registry
        self.runtimes = runtimes
        self.invoker = invoker
        self.code = code
        self.writing = writing
        self.region = region

    def later(self, record: FunctionRecord) -> None:
        """Activate `record`'s function in the background (the API answers Pending)."""
        self.code.background.spawn(self._activate(record.account_id, record.name))

    async def _activate(self, account: str, name: str) -> None:
        for _ in range(5):  # retry if a concurrent update changed the revision meanwhile
            try:
                record = await self.registry.get(account, name, self.region)
            except ResourceNotFound:
                return  # deleted meanwhile
            changes = await self._outcome(record)
            async with self.writing(account, name):
                try:
                    current = await self.registry.get(account, name, self.region)
                except ResourceNotFound:
                    return
                if current.revision_id != record.revision_id:
                    continue  # updated while the runtime started: check the new revision
                if await self._apply(current, changes):
                    return

    async def _outcome(self, record: FunctionRecord) -> dict[str, Any]:
        """The state fields once the runtime started, or failed to."""
        try:
            await self.runtimes.ensure_runtime(record.runtime)
        except NimbusError as e:
            pending = record.state == "Pending"
            return {
                "state": "Failed" if pending else record.state,
                "state_reason": e.message if pending else None,
                "state_reason_code": "InvalidRuntime" if pending else None,
                "last_update_status": "Failed",
                "last_update_status_reason": e.message,
                "last_update_status_reason_code": "InvalidRuntime",
            }
        return dict(_ACTIVE)

    async def _apply(self, current: FunctionRecord, changes: dict[str, Any]) -> bool:
        account, name = current.account_id, current.name
        live = current
        previous = self.registry.previous(account, name)
        if changes["last_update_status"] == "Failed" and previous is not None:
            # As AWS: a failed update is aborted, the previous code and configuration stay
            # live; only the status tells what happened.
            if current.code_key != previous.code_key:
                self.code.collect_later(current.code_key, 0)
            live = msgspec.structs.replace(previous, tags=current.tags)
        updated = msgspec.structs.replace(live, revision_id=str(uuid.uuid4()), **changes)
        if not await self.registry.replace(updated, current.revision_id):
            return False
        self.registry.stop_serving_previous(account, name)
        # The update is live: no environment of an older revision is reused.
        await self.invoker.retire(updated.arn)
        return True

    async def resume(self) -> None:
        """After a restart: finish interrupted activations, warm up the runtimes in use."""
        runtimes: set[str] = set()
        for record in await self.registry.db.all_functions():
            runtimes.add(record.runtime)
            if record.state == "Pending" or record.last_update_status == "InProgress":
                self.later(record)
        for runtime in runtimes:
            self.code.background.spawn(self._warm(runtime))

    async def _warm(self, runtime: str) -> None:
        try:
            await self.runtimes.ensure_runtime(runtime)
        except NimbusError as e:
            log.warning("runtime %s is not usable: %s", runtime, e.message)
