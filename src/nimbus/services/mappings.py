"""Create/Get/Update/Delete/ListEventSourceMapping(s) for SQS queues.

A mapping is committed before the reply, in AWS' transient state (Creating, Enabling,
Disabling, Updating, Deleting); a background step starts or stops its pollers and then
records the settled state (Enabled / Disabled) or removes the row. Pollers are behind
`MappingRunner` (sources/), so this module never touches a queue's messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuids
from collections.abc import Callable
from typing import Any, Protocol

from nimbus.errors import (
    InvalidParameterValue,
    NimbusError,
    ResourceConflict,
    ResourceNotFound,
)
from nimbus.services.contracts import QueueConsumer
from nimbus.services.mappings_config import (
    SQS_QUEUE_MISSING,
    ResourceInUse,
    check_sqs,
    function_target,
    merge,
    new_config,
)
from nimbus.services.names import function_arn
from nimbus.services.registry import FunctionRegistry
from nimbus.store.mappings import Mapping, MappingStore

log = logging.getLogger("nimbus.mappings")
NOT_FOUND = "The resource you requested does not exist."
_QUEUE_MISSING_CODES = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


class MappingRunner(Protocol):
    """Runs the pollers of enabled mappings (sources/sqs_poller_supervisor.py)."""

    def run(self, mapping: Mapping) -> None:
        """Start the mapping's pollers, or reconfigure running ones."""
        ...

    async def halt(self, uuid: str) -> None:
        """Stop the mapping's pollers; returns when their batches in flight finished."""
        ...


class MappingService:
    def __init__(
        self,
        store: MappingStore,
        registry: FunctionRegistry,
        queues: QueueConsumer | None,
        runner: MappingRunner | None,
        region: str,
        visibility_timeout: Callable[[str], int] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.queues = queues
        self.runner = runner
        self.region = region
        self.visibility_timeout = visibility_timeout  # of a queue, by ARN
        self._locks: dict[str, asyncio.Lock] = {}
        self._settling: set[asyncio.Task[None]] = set()

    # lifecycle ----------------------------------------------------------------------
    async def resume(self) -> None:
        """After a restart: finish what was underway and start the enabled mappings."""
        for mapping in await self.store.all():
            await self._settle(mapping.uuid)

    async def close(self) -> None:
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)

    # API ----------------------------------------------------------------------------
    async def create(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        source = p["EventSourceArn"]
        check_sqs(p, source, self.region)
        name, qualifier = await function_target(
            self.registry, account, p["FunctionName"], self.region
        )
        uuid = str(uuids.uuid4())
        target = function_arn(self.region, account, name, qualifier)
        arn = f"arn:aws:lambda:{self.region}:{account}:event-source-mapping:{uuid}"
        config = new_config(p, uuid, source, target, arn, time.time())
        await self._check_queue(source)
        await self._check_timeouts(account, name, source)
        async with self._lock(f"{account} {source} {name}"):  # one of two racing creates
            for other in await self.store.find(account, source_arn=source, function_name=name):
                raise ResourceConflict(
                    f'The event source arn (" {source} ") and function (" {name} ") provided '
                    "mapping already exists. Please update or delete the existing mapping "
                    f"with UUID {other.uuid}"
                )
            mapping = Mapping(uuid, account, name, source, time.time(), config)
            await self.store.insert(mapping)
        self._settle_soon(uuid)
        return _public(config)

    async def get(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return _public((await self._mapping(account, p["UUID"])).config)

    async def update(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        async with self._lock(p["UUID"]):
            mapping = await self._mapping(account, p["UUID"])
            state = mapping.config["State"]
            if state == "Deleting":
                raise ResourceInUse("Cannot update the event source mapping because it is in use.")
            if p.get("FunctionName"):
                name, qualifier = await function_target(
                    self.registry, account, p["FunctionName"], self.region
                )
                await self._check_timeouts(account, name, mapping.event_source_arn)
                mapping.function_name = name
                p = {**p, "_FunctionArn": function_arn(self.region, account, name, qualifier)}
            was_enabled = bool(mapping.config["_Enabled"])  # what the pollers are heading to
            config = merge(mapping.config, p, mapping.event_source_arn, time.time())
            enabled = p.get("Enabled", was_enabled)
            config["_Enabled"] = enabled
            if enabled != was_enabled:
                config["State"] = "Enabling" if enabled else "Disabling"
            else:
                config["State"] = "Updating"
            mapping.config = config
            await self.store.save(mapping)
        self._settle_soon(mapping.uuid)
        return _public(config)

    async def delete(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        async with self._lock(p["UUID"]):
            mapping = await self._mapping(account, p["UUID"])
            if mapping.config["State"] == "Deleting":
                raise ResourceInUse("Cannot delete the event source mapping because it is in use.")
            mapping.config["State"] = "Deleting"
            await self.store.save(mapping)
        self._settle_soon(mapping.uuid)
        return _public(mapping.config)

    async def list(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name = None
        if p.get("FunctionName"):
            name, _ = await function_target(
                self.registry, account, p["FunctionName"], self.region, must_exist=False
            )
        limit = p.get("MaxItems") or 100
        found = await self.store.find(
            account, p.get("EventSourceArn"), name, p.get("Marker") or None, limit + 1
        )
        out: dict[str, Any] = {"EventSourceMappings": [_public(m.config) for m in found[:limit]]}
        if len(found) > limit:
            out["NextMarker"] = found[limit - 1].uuid
        return out

    # internals --------------------------------------------------------------------
    async def _mapping(self, account: str, uuid: str) -> Mapping:
        mapping = await self.store.get(account, uuid)
        if mapping is None:
            raise ResourceNotFound(NOT_FOUND)
        mapping.config.setdefault("_Enabled", mapping.config["State"] != "Disabled")
        return mapping

    async def _check_queue(self, source: str) -> None:
        if self.queues is None:
            raise InvalidParameterValue(SQS_QUEUE_MISSING)
        try:
            await self.queues.backlog(source)
        except NimbusError as e:
            if e.code in _QUEUE_MISSING_CODES or "NonExistentQueue" in e.code:
                raise InvalidParameterValue(SQS_QUEUE_MISSING) from None
            raise

    async def _halt(self, uuid: str) -> None:
        if self.runner is not None:
            await self.runner.halt(uuid)

    async def _check_timeouts(self, account: str, function: str, source: str) -> None:
        """AWS: the queue must hide a batch for at least as long as the function may run."""
        if self.visibility_timeout is None:
            return
        record = await self.registry.get(account, function, self.region)
        visibility = self.visibility_timeout(source)
        if visibility < record.timeout:
            raise InvalidParameterValue(
                f"Queue visibility timeout: {visibility} seconds is less than Function "
                f"timeout: {record.timeout} seconds"
            )

    def _lock(self, uuid: str) -> asyncio.Lock:
        return self._locks.setdefault(uuid, asyncio.Lock())

    def _settle_soon(self, uuid: str) -> None:
        task = asyncio.create_task(self._settle(uuid))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, uuid: str) -> None:
        """Bring pollers in line with the stored mapping, then record the settled state."""
        try:
            async with self._lock(uuid):
                mapping = await self.store.get(None, uuid)
                if mapping is None:
                    return
                state = mapping.config["State"]
                enabled = bool(mapping.config.get("_Enabled", state != "Disabled"))
                if state == "Deleting":
                    await self._halt(uuid)
                    await self.store.delete(uuid)
                    self._locks.pop(uuid, None)
                    return
                if enabled and self.runner is not None:
                    self.runner.run(mapping)
                elif not enabled:
                    await self._halt(uuid)
                settled = "Enabled" if enabled else "Disabled"
                if state != settled:
                    mapping.config["State"] = settled
                    await self.store.save(mapping)
        except Exception:
            log.exception("event source mapping %s", uuid)


def _public(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration without Nimbus' private keys (prefixed with _)."""
    return {k: v for k, v in config.items() if not k.startswith("_")}
