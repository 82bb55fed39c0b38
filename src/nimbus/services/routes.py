"""HTTP gateway routes: `{routeKey: {function, payloadFormatVersion}}` per account.

Kept in `<data_dir>/routes.json` (small, rarely written; written atomically: temp + replace).
The gateway reads `table(account)` on every request: an in-memory, pre-sorted RouteTable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from nimbus.errors import BadRequest, RouteConflict, RouteNotFound
from nimbus.models import FunctionRecord
from nimbus.protocol.apigw_routes import RouteKeyError, RouteTable, parse_route_key
from nimbus.services.names import parse_function_name
from nimbus.store.jsonfile import load_accounts, save_accounts

VERSIONS = ("2.0", "1.0")


class FunctionLookup(Protocol):
    async def get(self, account: str, name: str, region: str) -> FunctionRecord: ...


class Routes:
    def __init__(
        self, path: Path, functions: FunctionLookup | None = None, region: str = "us-east-1"
    ) -> None:
        self.path = path
        self.functions = functions
        self.region = region
        self._routes: dict[str, dict[str, dict[str, str]]] = load_accounts(path)
        self._tables: dict[str, RouteTable] = {}
        self._lock = asyncio.Lock()

    # --- the gateway's view

    def table(self, account: str) -> RouteTable:
        table = self._tables.get(account)
        if table is None:
            table = self._tables[account] = RouteTable(self._routes.get(account, {}))
        return table

    def target(self, account: str, route_key: str) -> tuple[str, str] | None:
        """-> (function name, payload format version)."""
        entry = self._routes.get(account, {}).get(route_key)
        if entry is None:
            return None
        return entry["function"], entry["payloadFormatVersion"]

    # --- Nimbus API operations (JSON in, JSON out)

    async def add_route(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        key = _route_key(p.get("RouteKey"))
        function = p.get("FunctionName")
        if not isinstance(function, str) or not function:
            raise BadRequest("FunctionName is required.")
        name, qualifier, arn_account = parse_function_name(function)
        if qualifier not in (None, "$LATEST") or arn_account not in (None, account):
            raise BadRequest(f"Invalid function for a route: {function}")
        version = p.get("PayloadFormatVersion") or "2.0"
        if version not in VERSIONS:
            raise BadRequest(
                f"Invalid PayloadFormatVersion {version!r}: expected one of {', '.join(VERSIONS)}."
            )
        if self.functions is not None:
            await self.functions.get(account, name, self.region)  # ResourceNotFound
        async with self._lock:
            routes = self._routes.setdefault(account, {})
            if key in routes and not p.get("Replace"):
                raise RouteConflict(f"Route with key {key} already exists for this API.")
            routes[key] = {"function": name, "payloadFormatVersion": version}
            self._changed(account)
        return _describe(key, routes[key])

    async def remove_route(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        key = p.get("RouteKey")
        async with self._lock:
            routes = self._routes.get(account, {})
            if not isinstance(key, str) or key not in routes:
                raise RouteNotFound(f"Invalid Route identifier specified {key}")
            del routes[key]
            self._changed(account)
        return {}

    async def list_routes(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        routes = self._routes.get(account, {})
        table = self.table(account)
        return {"Routes": [_describe(r.key, routes[r.key]) for r in table.routes]}

    # --- storage

    def _changed(self, account: str) -> None:
        self._tables.pop(account, None)
        self._save()

    def _save(self) -> None:
        save_accounts(self.path, self._routes)


def _route_key(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        raise BadRequest("RouteKey is required.")
    try:
        return parse_route_key(raw).key
    except RouteKeyError as e:
        raise BadRequest(str(e)) from None


def _describe(key: str, entry: dict[str, str]) -> dict[str, Any]:
    return {
        "RouteKey": key,
        "FunctionName": entry["function"],
        "PayloadFormatVersion": entry["payloadFormatVersion"],
    }
