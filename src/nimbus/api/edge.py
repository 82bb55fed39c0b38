"""The single endpoint: every AWS-compatible API on one port, routed by the service named
in the request's SigV4 credential scope. Plain ASGI (no framework on the hot path)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nimbus.errors import AuthFailure, NimbusError, RequestEntityTooLarge, UnrecognizedClient
from nimbus.protocol import restjson, sigv4

log = logging.getLogger("nimbus.edge")
MAX_BODY = 69_905_067  # a 50 MB zip, base64-encoded in a CreateFunction body
Response = tuple[int, list[tuple[str, str]], bytes]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """An authenticated request, as every service adapter receives it."""

    account: str
    method: str
    raw_path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    request_id: str


class ServiceAdapter(Protocol):
    async def handle(self, request: ApiRequest) -> Response: ...


class KeyLookup(Protocol):
    async def __call__(self, access_key: str) -> tuple[str, str] | None:
        """(secret, account id) of an access key."""
        ...


class Edge:
    def __init__(
        self,
        adapters: dict[str, ServiceAdapter],
        lookup: KeyLookup,
        open_auth_account: str | None = None,
    ) -> None:
        self.adapters = adapters
        self.lookup = lookup
        self.open_account = open_auth_account  # --auth open: any signature, this account
        self.extra_routes: dict[str, Callable[[Scope, bytes], Awaitable[Response]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        body = b""
        try:
            body = await _read_body(receive)
            response = await self._dispatch(scope, body, request_id)
        except _BodyTooLarge:
            e = RequestEntityTooLarge(
                f"Request must be smaller than {MAX_BODY} bytes for the "
                f"{self._operation_of(scope)} operation"
            )
            response = restjson.error_response(
                e.code, e.message, e.status, request_id, e.error_kind, {"__type": e.code}
            )
        except NimbusError as e:
            # Before routing we don't know the protocol: `__type` in the body serves the JSON
            # protocols, x-amzn-ErrorType the rest-json ones.
            response = restjson.error_response(
                e.code, e.message, e.status, request_id, e.error_kind, {"__type": e.code}
            )
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            response = restjson.error_response(
                "ServiceException", "Internal error", 500, request_id, "Service"
            )
        status, headers, out = response
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
                + [(b"content-length", str(len(out)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": out})

    def _operation_of(self, scope: Scope) -> str:
        """For error messages only: the operation a request is for (from its headers)."""
        try:
            request = sigv4.RawRequest.from_asgi(scope, _raw_path(scope), b"")
            adapter = self.adapters.get(sigv4.parse_request(request).service)
            name = getattr(adapter, "operation_name", None)
            return str(name(request.method, request.raw_path)) if name else "requested"
        except Exception:  # any malformed request: the generic wording
            return "requested"

    async def _dispatch(self, scope: Scope, body: bytes, request_id: str) -> Response:
        raw_path = _raw_path(scope)
        for prefix, route in self.extra_routes.items():
            if raw_path.startswith(prefix):
                return await route(scope, body)
        request = sigv4.RawRequest.from_asgi(scope, raw_path, body)
        headers = request.headers
        info = sigv4.parse_request(request)
        account = await self._authenticate(request, info)
        adapter = self.adapters.get(info.service)
        if adapter is None:
            raise UnrecognizedClient(f"Nimbus does not serve the '{info.service}' API (yet).")
        query: dict[str, list[str]] = {}
        for key, value in sigv4.parse_query(request.query_string):
            query.setdefault(key, []).append(value)
        header_map = {k.lower(): v for k, v in headers}
        return await adapter.handle(
            ApiRequest(
                account,
                request.method,
                raw_path.split("?", 1)[0],
                query,
                header_map,
                body,
                request_id,
            )
        )

    async def _authenticate(self, request: sigv4.RawRequest, info: sigv4.SignedRequestInfo) -> str:
        if self.open_account is not None:
            return self.open_account
        found = await self.lookup(info.access_key)
        if found is None:
            raise UnrecognizedClient()
        secret, account = found
        sigv4.verify(request, secret, dt.datetime.now(dt.UTC), info)
        return account


def _raw_path(scope: Scope) -> str:
    """The path as on the wire (percent-encoding kept: signatures cover it)."""
    return str((scope.get("raw_path") or scope["path"].encode()).decode("latin-1"))


class _BodyTooLarge(Exception):
    pass


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


__all__ = ["AuthFailure", "Edge"]
