"""Lambda function URLs: Create/Get/Update/Delete/ListFunctionUrlConfig(s).

One URL per function (Nimbus has no aliases: a Qualifier is always "not found"). Kept in
`<data_dir>/function_urls.json` as `{"accounts": {account: {function: config}}}`, written
atomically (temp + fsync + replace); the gateway resolves a url-id from memory.

`FunctionUrl` is the path-based form `http://127.0.0.1:<gateway port>/lambda-url/<url-id>/`
(it always resolves); the gateway also serves the AWS-like host
`<url-id>.lambda-url.<region>.localhost`. InvokeMode RESPONSE_STREAM is accepted and stored,
but responses are always buffered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nimbus.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from nimbus.models import FunctionRecord
from nimbus.protocol.apigw_routes import METHODS
from nimbus.protocol.function_url import new_url_id
from nimbus.services.names import function_arn, parse_function_name
from nimbus.store.jsonfile import load_accounts, save_accounts

AUTH_TYPES = ("NONE", "AWS_IAM")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")
_NO_CONFIG = "The resource you requested does not exist."


class FunctionLookup(Protocol):
    async def get(self, account: str, name: str, region: str) -> FunctionRecord: ...


@dataclass(frozen=True)
class UrlTarget:
    """What a url-id resolves to."""

    url_id: str
    account: str
    function: str
    auth_type: str
    cors: dict[str, Any] | None


def url_timestamp(when: dt.datetime | None = None) -> str:
    """`2021-10-29T23:27:44.806414Z`, the function URL APIs' time format."""
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FunctionUrls:
    def __init__(
        self,
        path: Path,
        functions: FunctionLookup,
        base_url: str,
        region: str = "us-east-1",
    ) -> None:
        """base_url: the gateway's address, e.g. `http://127.0.0.1:8901`."""
        self.path = path
        self.functions = functions
        self.base_url = base_url.rstrip("/")
        self.region = region
        self._configs: dict[str, dict[str, dict[str, Any]]] = load_accounts(path)
        self._by_id: dict[str, tuple[str, str]] = {
            c["UrlId"]: (account, name)
            for account, configs in self._configs.items()
            for name, c in configs.items()
        }
        self._lock = asyncio.Lock()

    # --- the gateway's view

    def resolve(self, url_id: str) -> UrlTarget | None:
        found = self._by_id.get(url_id)
        if found is None:
            return None
        account, name = found
        config = self._configs.get(account, {}).get(name)
        if config is None:
            return None
        return UrlTarget(url_id, account, name, config["AuthType"], config.get("Cors") or None)

    def url(self, url_id: str) -> str:
        return f"{self.base_url}/lambda-url/{url_id}/"

    def forget(self, account: str, name: str) -> None:
        """Drop the function's URL (call when the function is deleted)."""
        config = self._configs.get(account, {}).pop(name, None)
        if config is not None:
            self._by_id.pop(config["UrlId"], None)
            self._save()

    # --- Lambda API operations

    async def _function(self, account: str, p: dict[str, Any]) -> tuple[str, str]:
        name, qualifier, arn_account = parse_function_name(p["FunctionName"], p.get("Qualifier"))
        arn = function_arn(self.region, account, name)
        if arn_account not in (None, account):
            raise ResourceNotFound(f"Function not found: {arn}")
        record = await self.functions.get(account, name, self.region)
        if qualifier is not None:
            raise ResourceNotFound(f"Function not found: {record.arn}:{qualifier}")
        return name, record.arn

    async def create(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, arn = await self._function(account, p)
        auth_type = _auth_type(p.get("AuthType"))
        invoke_mode = _invoke_mode(p.get("InvokeMode"))
        cors = _cors(p.get("Cors"))
        async with self._lock:
            configs = self._configs.setdefault(account, {})
            if name in configs:
                raise ResourceConflict(
                    f"Failed to create function url config for [functionArn = {arn}]."
                    " Error message:  FunctionUrlConfig exists for this Lambda function"
                )
            url_id = new_url_id()
            while url_id in self._by_id:
                url_id = new_url_id()
            now = url_timestamp()
            config: dict[str, Any] = {
                "UrlId": url_id,
                "AuthType": auth_type,
                "InvokeMode": invoke_mode,
                "CreationTime": now,
                "LastModifiedTime": now,
            }
            if cors:
                config["Cors"] = cors
            configs[name] = config
            self._by_id[url_id] = (account, name)
            self._save()
        out = self._describe(arn, config)
        del out["LastModifiedTime"]  # as AWS: Create answers without it
        return out

    async def get(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, arn = await self._function(account, p)
        return self._describe(arn, self._config(account, name))

    async def update(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, arn = await self._function(account, p)
        auth_type = _auth_type(p["AuthType"]) if p.get("AuthType") is not None else None
        invoke_mode = _invoke_mode(p["InvokeMode"]) if p.get("InvokeMode") is not None else None
        cors = _cors(p["Cors"]) if p.get("Cors") is not None else None
        async with self._lock:
            config = self._config(account, name)
            if auth_type is not None:
                config["AuthType"] = auth_type
            if invoke_mode is not None:
                config["InvokeMode"] = invoke_mode
            if cors is not None:  # replaced wholesale; an empty Cors removes it
                if cors:
                    config["Cors"] = cors
                else:
                    config.pop("Cors", None)
            config["LastModifiedTime"] = url_timestamp()
            self._save()
        return self._describe(arn, config)

    async def delete(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, _ = await self._function(account, p)
        async with self._lock:
            self._config(account, name)  # ResourceNotFound
            self.forget(account, name)
        return {}

    async def list(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, arn = await self._function(account, p)
        config = self._configs.get(account, {}).get(name)
        return {"FunctionUrlConfigs": [self._describe(arn, config)] if config else []}

    # --- helpers

    def _config(self, account: str, name: str) -> dict[str, Any]:
        config = self._configs.get(account, {}).get(name)
        if config is None:
            raise ResourceNotFound(_NO_CONFIG)
        return config

    def _describe(self, arn: str, config: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "FunctionUrl": self.url(config["UrlId"]),
            "FunctionArn": arn,
            "AuthType": config["AuthType"],
        }
        if config.get("Cors"):
            out["Cors"] = config["Cors"]
        out["CreationTime"] = config["CreationTime"]
        out["LastModifiedTime"] = config["LastModifiedTime"]
        out["InvokeMode"] = config["InvokeMode"]
        return out

    def _save(self) -> None:
        save_accounts(self.path, self._configs)


def _auth_type(raw: object) -> str:
    if raw not in AUTH_TYPES:
        raise InvalidParameterValue(f"Invalid AuthType: {raw}. Valid values: NONE, AWS_IAM.")
    return str(raw)


def _invoke_mode(raw: object) -> str:
    if raw is None:
        return "BUFFERED"
    if raw not in INVOKE_MODES:
        raise InvalidParameterValue(
            f"Invalid InvokeMode: {raw}. Valid values: BUFFERED, RESPONSE_STREAM."
        )
    return str(raw)


def _cors(raw: object) -> dict[str, Any]:
    """The Cors config as stored: only the fields given (an empty dict: no CORS)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameterValue("Cors must be an object.")
    cors = {k: v for k, v in raw.items() if v is not None}
    for method in cors.get("AllowMethods") or []:
        if method != "*" and method.upper() not in METHODS[:-1]:
            raise InvalidParameterValue(
                f"Invalid AllowMethods value: {method}. Valid values: *, GET, POST, PUT, PATCH,"
                " DELETE, HEAD, OPTIONS."
            )
    return cors
