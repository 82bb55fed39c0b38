"""Async-invocation destinations that are event buses: the record becomes an EventBridge
event on the default bus (source `lambda`), matched against the account's rules."""

from __future__ import annotations

from typing import Any

import orjson

from nimbus.services.destinations import Deliverer
from nimbus.services.rules import RulesService


def bus_deliverer(rules: RulesService) -> Deliverer:
    async def deliver(
        account: str, target_arn: str, body: bytes, attributes: dict[str, str]
    ) -> None:
        record: Any = orjson.loads(body)
        context = record.get("requestContext", {}) if isinstance(record, dict) else {}
        outcome = "Success" if context.get("condition") == "Success" else "Failure"
        function_arn = str(context.get("functionArn", ""))
        await rules.put_events(
            account,
            {
                "Entries": [
                    {
                        "Source": "lambda",
                        "DetailType": f"Lambda Function Invocation Result - {outcome}",
                        "Detail": body.decode(),
                        "Resources": [function_arn] if function_arn else [],
                        "EventBusName": target_arn,
                    }
                ]
            },
        )

    return deliver
