"""Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s): retries, event age, destinations."""

from __future__ import annotations

import re
import time
from typing import Any

from nimbus.errors import InvalidParameterValue, ResourceNotFound
from nimbus.services.names import parse_function_name
from nimbus.services.registry import FunctionRegistry
from nimbus.store.events import EventInvokeConfigs

_DESTINATION = re.compile(r"^arn:aws[a-zA-Z-]*:(lambda|sqs|sns|events|s3):[a-z0-9-]*:\d{12}:.+$")
FIELDS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


class EventConfigService:
    def __init__(self, store: EventInvokeConfigs, registry: FunctionRegistry, region: str) -> None:
        self.store = store
        self.registry = registry
        self.region = region

    async def _target(self, account: str, p: dict[str, Any]) -> tuple[str, str, str]:
        name, qualifier, _ = parse_function_name(p["FunctionName"], p.get("Qualifier"))
        record = await self.registry.get(account, name, self.region)
        qualifier = qualifier or "$LATEST"
        if qualifier != "$LATEST":
            raise ResourceNotFound(f"Function not found: {record.arn}:{qualifier}")
        return name, qualifier, f"{record.arn}:{qualifier}"

    @staticmethod
    def _check(p: dict[str, Any]) -> None:
        for which in ("OnSuccess", "OnFailure"):
            target = ((p.get("DestinationConfig") or {}).get(which) or {}).get("Destination")
            if target and not _DESTINATION.match(target):
                raise InvalidParameterValue(
                    f"The provided destination config DestinationConfig.{which} is invalid."
                )

    async def put(self, account: str, p: dict[str, Any], merge: bool = False) -> dict[str, Any]:
        name, qualifier, arn = await self._target(account, p)
        self._check(p)
        config: dict[str, Any] = {}
        if merge:
            existing = await self.store.get(account, name, qualifier)
            if existing is None:
                raise ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
            config = existing
        config.update({k: p[k] for k in FIELDS if p.get(k) is not None})
        destinations = config.setdefault("DestinationConfig", {})
        destinations.setdefault("OnSuccess", {})
        destinations.setdefault("OnFailure", {})
        config["FunctionArn"] = arn
        config["LastModified"] = time.time()
        await self.store.put(account, name, qualifier, config)
        return config

    async def update(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        return await self.put(account, p, merge=True)

    async def get(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, qualifier, arn = await self._target(account, p)
        found = await self.store.get(account, name, qualifier)
        if found is None:
            raise ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
        return found

    async def delete(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, qualifier, arn = await self._target(account, p)
        if not await self.store.delete(account, name, qualifier):
            raise ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")
        return {}

    async def list(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, _, _ = parse_function_name(p["FunctionName"])
        await self.registry.get(account, name, self.region)
        configs = await self.store.list(account, name)
        return {"FunctionEventInvokeConfigs": configs[: p.get("MaxItems") or 50]}
