"""Reserved concurrency (Put/Get/DeleteFunctionConcurrency): a function's share of the
account's concurrent executions, which the engine enforces per invocation."""

from __future__ import annotations

from typing import Any

import msgspec

from nimbus.errors import InvalidParameterValue
from nimbus.models import FunctionRecord
from nimbus.services.functions import FunctionService

MIN_UNRESERVED = 100  # AWS keeps this much of the account's concurrency unreserved


class FunctionConcurrency:
    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions

    async def put(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        wanted = int(p["ReservedConcurrentExecutions"])
        records = await self.functions.registry.db.list_functions(account, None, 1_000_000)
        limit = self.functions.config.concurrency_limit

        def reserve(record: FunctionRecord) -> FunctionRecord:
            others = sum(r.reserved_concurrency or 0 for r in records if r.name != record.name)
            if limit - others - wanted < MIN_UNRESERVED:
                raise InvalidParameterValue(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
                )
            return msgspec.structs.replace(record, reserved_concurrency=wanted)

        await self.functions.modify(account, p["FunctionName"], reserve)
        return {"ReservedConcurrentExecutions": wanted}

    async def get(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        reserved = (await self.functions.record(account, p["FunctionName"])).reserved_concurrency
        return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}

    async def delete(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        await self.functions.modify(
            account,
            p["FunctionName"],
            lambda r: msgspec.structs.replace(r, reserved_concurrency=None),
        )
        return {}
