"""Invoke: resolve the function, check its state, run it through the Invoker."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Protocol

import orjson

from nimbus.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    RequestEntityTooLarge,
    ResourceConflict,
    ResourceNotFound,
)
from nimbus.ids import random_uuid
from nimbus.models import Invocation
from nimbus.services.names import parse_function_name
from nimbus.services.registry import FunctionRegistry
from nimbus.types import Invoker

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 1024 * 1024


class AsyncAcceptor(Protocol):
    async def accept(
        self,
        account: str,
        function: str,
        qualifier: str | None,
        payload: bytes,
        request_id: str | None = None,
    ) -> str: ...


class InvokeService:
    def __init__(
        self,
        registry: FunctionRegistry,
        invoker: Invoker,
        region: str,
        async_invoke: AsyncAcceptor | None = None,
    ) -> None:
        self.registry = registry
        self.invoker = invoker
        self.region = region
        self.async_invoke = async_invoke

    async def invoke(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        name, qualifier, _ = parse_function_name(p["FunctionName"], p.get("Qualifier"))
        record = self.registry.cached(account, name) or await self.registry.get(
            account, name, self.region
        )
        if qualifier not in (None, "$LATEST"):
            raise ResourceNotFound(f"Function not found: {record.arn}:{qualifier}")
        if record.state != "Active":
            raise ResourceConflict(
                "The operation cannot be performed at this time. The function is currently in "
                f"the following state: {record.state}"
            )
        kind = p.get("InvocationType") or "RequestResponse"
        payload: bytes = p.get("Payload") or b""
        if kind == "DryRun":
            return {"StatusCode": 204}
        if kind == "Event":
            if self.async_invoke is None:
                raise InvalidParameterValue("Asynchronous invocation is not enabled.")
            if len(payload) > MAX_ASYNC_PAYLOAD:
                raise RequestEntityTooLarge(
                    f"Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the "
                    "InvokeFunction operation"
                )
            if payload:
                _check_json(payload)
            request_id = await self.async_invoke.accept(
                account, record.name, qualifier, payload or b"{}"
            )
            return {"StatusCode": 202, "_RequestId": request_id, "Payload": b""}
        if len(payload) > MAX_SYNC_PAYLOAD:
            raise RequestEntityTooLarge(
                f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction "
                "operation"
            )
        if payload:
            _check_json(payload)
        invocation = Invocation(
            request_id=random_uuid(),
            payload=payload or b"{}",
            invoked_arn=record.arn if qualifier is None else f"{record.arn}:{qualifier}",
            client_context=_client_context(p.get("ClientContext")),
            tenant_id=p.get("TenantId"),
        )
        result = await self.invoker.invoke(
            self.registry.spec(self.registry.live(record)), invocation
        )
        out: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": result.executed_version,
            "Payload": result.payload,
            "_RequestId": invocation.request_id,
        }
        if result.function_error:
            out["FunctionError"] = result.function_error
        if p.get("LogType") == "Tail":
            out["LogResult"] = base64.b64encode(result.log_tail().encode()).decode()
        return out


def _check_json(payload: bytes) -> None:
    """Lambda refuses an event that is not JSON before running anything."""
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise InvalidRequestContent(
            f"Could not parse request body into json: Could not parse payload into json: {e}"
        ) from None


def _client_context(raw: str | None) -> str | None:
    """X-Amz-Client-Context is base64 JSON; the runtime gets the JSON text."""
    if not raw:
        return None
    try:
        text = base64.b64decode(raw, validate=True).decode()
        if isinstance(orjson.loads(text), dict):
            return text
    except (binascii.Error, UnicodeDecodeError, ValueError):  # JSONDecodeError is one
        pass
    raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.")
