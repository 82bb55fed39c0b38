"""The HTTP gateway: API Gateway HTTP API semantics on its own port (plain ASGI).

request -> route -> Lambda proxy event (format 2.0 or 1.0) -> synchronous invoke ->
the function's response mapped back. Function-URL requests (by host or `/lambda-url/<id>`
path) go to the `urls` handler instead. Errors are API Gateway's: 404 no route, 413 body
over 10 MB or event over Lambda's 6 MB, 429 throttled, 500 function error / bad response.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import orjson

from nimbus.errors import NimbusError, RequestTooLarge, TooManyRequests
from nimbus.ids import random_uuid
from nimbus.models import FunctionRecord, FunctionSpec, Invocation
from nimbus.protocol import apigw
from nimbus.services.routes import Routes
from nimbus.types import Invoker

log = logging.getLogger("nimbus.gateway")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_EVENT = 6 * 1024 * 1024  # Lambda's synchronous request limit


class FunctionSource(Protocol):
    """What the gateway needs of the registry (FunctionRegistry fits)."""

    async def get(self, account: str, name: str, region: str) -> FunctionRecord: ...

    def spec(self, record: FunctionRecord) -> FunctionSpec: ...

    def live(self, record: FunctionRecord) -> FunctionRecord: ...


class UrlHandler(Protocol):
    """Function-URL requests (sources.url_gateway.UrlGateway fits)."""

    def resolve(self, scope: Scope) -> tuple[str, str, str] | None: ...

    async def handle(
        self, scope: Scope, receive: Receive, resolved: tuple[str, str, str]
    ) -> apigw.HttpResponse: ...


class Gateway:
    def __init__(
        self,
        routes: Routes,
        functions: FunctionSource,
        invoker: Invoker,
        account: str,
        region: str,
        api_id: str | None = None,
        urls: UrlHandler | None = None,
    ) -> None:
        self.urls = urls
        self.routes = routes
        self.functions = functions
        self.invoker = invoker
        self.account = account
        self.region = region
        self.api = apigw.ApiContext(account, api_id or _api_id(account))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self.urls is not None:
            resolved = self.urls.resolve(scope)
            if resolved is not None:
                response = await self.urls.handle(scope, receive, resolved)
                await _send(send, response, None, scope.get("method") == "HEAD")
                return
        request_id = _request_id()
        try:
            response = await self._handle(scope, receive, request_id)
        except Exception:
            log.exception("gateway request %s failed", request_id)
            response = apigw.error_response(500)
        await _send(send, response, request_id, scope.get("method") == "HEAD")

    async def _handle(self, scope: Scope, receive: Receive, request_id: str) -> apigw.HttpResponse:
        now_ms = int(time.time() * 1000)
        body = await _read_body(receive)
        if body is None:
            return apigw.error_response(413)
        raw_path = _text(scope.get("raw_path") or scope["path"].encode())
        raw_path = raw_path.split("?", 1)[0]
        match = self.routes.table(self.account).match(scope["method"], raw_path)
        if match is None:
            return apigw.error_response(404)
        target = self.routes.target(self.account, match.route.key)
        if target is None:  # removed meanwhile
            return apigw.error_response(404)
        function, version = target
        request = _request(scope, raw_path, body, request_id, now_ms)
        event = orjson.dumps(apigw.build_event(request, match, self.api, version))
        if len(event) > MAX_EVENT:
            return apigw.error_response(413)
        try:
            record = await self.functions.get(self.account, function, self.region)
            if record.state != "Active":
                return apigw.error_response(500)
            result = await self.invoker.invoke(
                self.functions.spec(self.functions.live(record)),
                Invocation(request_id=random_uuid(), payload=event, invoked_arn=record.arn),
            )
        except TooManyRequests:
            return apigw.error_response(429)
        except RequestTooLarge:
            return apigw.error_response(413)
        except NimbusError as e:
            log.warning("gateway: %s -> %s: %s", match.route.key, function, e.message)
            return apigw.error_response(500)
        if result.function_error:
            log.info(
                "gateway: %s -> %s failed: %s", match.route.key, function, result.payload[:500]
            )
            return apigw.error_response(500)
        return apigw.map_response(result.payload, version)


def _request(
    scope: Scope, raw_path: str, body: bytes, request_id: str, now_ms: int
) -> apigw.HttpRequest:
    client = scope.get("client") or ("127.0.0.1", 0)
    server = scope.get("server") or ("127.0.0.1", 80)
    headers = _headers(scope, str(client[0]), now_ms)
    headers += [
        ("x-forwarded-port", str(server[1] or 80)),
        ("x-forwarded-proto", str(scope.get("scheme", "http"))),
    ]
    return apigw.HttpRequest(
        method=scope["method"],
        raw_path=raw_path,
        query_string=_text(scope.get("query_string", b"")),
        headers=headers,
        body=body,
        source_ip=str(client[0]),
        protocol=f"HTTP/{scope.get('http_version', '1.1')}",
        time_ms=now_ms,
        request_id=request_id,
    )


def _headers(scope: Scope, source_ip: str, now_ms: int) -> list[tuple[str, str]]:
    """The request's headers plus what API Gateway adds (x-amzn-trace-id, x-forwarded-*)."""
    headers: list[tuple[str, str]] = []
    forwarded_for: str | None = None
    has_trace = False
    for k, v in scope.get("headers", []):
        name, value = _text(k).lower(), _text(v)
        if name == "x-forwarded-for":
            forwarded_for = value if forwarded_for is None else f"{forwarded_for}, {value}"
        elif name not in ("x-forwarded-port", "x-forwarded-proto"):
            has_trace = has_trace or name == "x-amzn-trace-id"
            headers.append((name, value))
    if not has_trace:
        headers.append(("x-amzn-trace-id", _trace_id(now_ms)))
    chain = f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip
    headers.append(("x-forwarded-for", chain))
    return headers


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None as soon as it exceeds MAX_BODY (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(
    send: Send, response: apigw.HttpResponse, request_id: str | None, head: bool
) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    if request_id is not None:
        headers.append((b"apigw-requestid", request_id.encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _text(raw: bytes) -> str:
    """Request bytes as text: UTF-8 (what clients send beyond ASCII), never failing."""
    return raw.decode("utf-8", "replace")


def _request_id() -> str:
    """API Gateway's style: 16 characters of base64 (`JKJaXmPLvHcESHA=`)."""
    raw = random.getrandbits(88).to_bytes(11, "big")  # unique, not secret: no system call
    return base64.b64encode(raw).decode().replace("/", "_").replace("+", "-")


def _trace_id(now_ms: int) -> str:
    return f"Root=1-{now_ms // 1000:08x}-{random.getrandbits(96):024x}"


def _api_id(account: str) -> str:
    """A stable 10-character id per account, like API Gateway's (lower-case alphanumerics)."""
    digest = hashlib.sha256(f"nimbus-http-api:{account}".encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])
