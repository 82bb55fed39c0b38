"""Usage: requests, GB-seconds and cost from the metering records."""

from __future__ import annotations

import time
from typing import Any

from nimbus.errors import ValidationError
from nimbus.store.sqlite import Database


class UsageService:
    def __init__(self, db: Database, price_per_request: float, price_per_gb_second: float) -> None:
        self.db = db
        self.price_per_request = price_per_request
        self.price_per_gb_second = price_per_gb_second

    async def get_usage(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        since = _number(p, "Since", time.time() - 30 * 86400)
        per_price = {
            "request": _number(p, "PricePerRequest", self.price_per_request),
            "gb_second": _number(p, "PricePerGbSecond", self.price_per_gb_second),
        }
        functions = await self.db.usage_by_function(account, since)
        for row in functions:
            row["cost"] = (
                row["requests"] * per_price["request"] + row["gb_seconds"] * per_price["gb_second"]
            )
        total = await self.db.usage(account, since)
        return {
            "Since": since,
            "Requests": total["requests"],
            "GbSeconds": total["gb_seconds"],
            "BilledMs": total["billed_ms"],
            "Cost": total["requests"] * per_price["request"]
            + total["gb_seconds"] * per_price["gb_second"],
            "Prices": {"PerRequest": per_price["request"], "PerGbSecond": per_price["gb_second"]},
            "Functions": functions,
        }


def _number(p: dict[str, Any], name: str, default: float) -> float:
    value = p.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValidationError(f"{name} must be a number >= 0, got {value!r}.")
    return float(value)
