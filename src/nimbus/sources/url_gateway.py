"""Function-URL requests on the gateway port: resolve, authenticate, CORS, invoke, map.

A request is a function-URL request when its Host starts with `<url-id>.lambda-url.` (the
function sees the path as is) or its path starts with `/lambda-url/<url-id>` (the function
sees the rest: `/lambda-url/<id>/a/b` -> rawPath `/a/b`). AWS_IAM URLs need a SigV4
signature (service `lambda`) by a key of the function's own account; a missing or bad
signature is 403 `{"Message":"Forbidden"}`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson

from nimbus.errors import AuthFailure, NimbusError, RequestTooLarge, TooManyRequests
from nimbus.ids import random_uuid
from nimbus.models import Invocation
from nimbus.protocol import apigw, function_url, sigv4
from nimbus.services.function_urls import FunctionUrls, UrlTarget
from nimbus.sources.gateway import (
    MAX_EVENT,
    FunctionSource,
    Receive,
    Scope,
    _read_body,
    _request,
    _text,
)
from nimbus.types import Invoker

log = logging.getLogger("nimbus.gateway.urls")

KeyLookup = Callable[[str], Awaitable[tuple[str, str] | None]]  # access key -> (secret, account)
_URL_ID = r"[a-z0-9]{32}"
_PATH = re.compile(rf"^/lambda-url/({_URL_ID})(/.*)?$")
_HOST = re.compile(rf"^({_URL_ID})\.lambda-url\.", re.IGNORECASE)


class UrlGateway:
    def __init__(
        self,
        urls: FunctionUrls,
        functions: FunctionSource,
        invoker: Invoker,
        lookup: KeyLookup,
        region: str,
    ) -> None:
        self.urls = urls
        self.functions = functions
        self.invoker = invoker
        self.lookup = lookup
        self.region = region

    def resolve(self, scope: Scope) -> tuple[str, str, str] | None:
        """-> (url-id, raw path on the wire, the path the function sees) or None."""
        wire = _text(scope.get("raw_path") or scope["path"].encode()).split("?", 1)[0]
        host = next((_text(v) for k, v in scope.get("headers", []) if k.lower() == b"host"), "")
        by_host = _HOST.match(host)
        if by_host:
            return by_host.group(1).lower(), wire, wire
        by_path = _PATH.match(wire)
        if by_path:
            return by_path.group(1), wire, by_path.group(2) or "/"
        return None

    async def handle(
        self, scope: Scope, receive: Receive, resolved: tuple[str, str, str]
    ) -> apigw.HttpResponse:
        url_id, wire_path, path = resolved
        request_id = random_uuid()
        try:
            response = await self._handle(scope, receive, url_id, wire_path, path, request_id)
        except Exception:
            log.exception("function URL request %s failed", request_id)
            response = function_url.error_response(502)
        response.headers.append(("x-amzn-requestid", request_id))
        return response

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        url_id: str,
        wire_path: str,
        path: str,
        request_id: str,
    ) -> apigw.HttpResponse:
        now_ms = int(time.time() * 1000)
        target = self.urls.resolve(url_id)
        if target is None:
            return function_url.error_response(404)
        body = await _read_body(receive)
        if body is None:
            return function_url.error_response(413)
        request = _request(scope, path, body, request_id, now_ms)
        if target.cors and function_url.is_preflight(request.method, request.headers):
            return function_url.preflight(target.cors, request.headers)  # browsers never sign
        caller: function_url.IamCaller | None = None
        if target.auth_type == "AWS_IAM":
            caller = await self._authenticate(scope, wire_path, body, target)
            if caller is None:
                return function_url.error_response(403)
        domain = function_url.domain(url_id, self.region)
        event = orjson.dumps(function_url.build_event(request, url_id, domain, caller))
        if len(event) > MAX_EVENT:
            return function_url.error_response(413)
        response = await self._invoke(target, event, request_id)
        return function_url.apply_cors(target.cors, request.headers, response)

    async def _invoke(self, target: UrlTarget, event: bytes, request_id: str) -> apigw.HttpResponse:
        try:
            record = await self.functions.get(target.account, target.function, self.region)
            if record.state != "Active":
                return function_url.error_response(502)
            result = await self.invoker.invoke(
                self.functions.spec(self.functions.live(record)),
                Invocation(request_id=request_id, payload=event, invoked_arn=record.arn),
            )
        except TooManyRequests:
            return function_url.error_response(429)
        except RequestTooLarge:
            return function_url.error_response(413)
        except NimbusError as e:
            log.warning("function URL %s -> %s: %s", target.url_id, target.function, e.message)
            return function_url.error_response(502)
        if result.function_error:
            log.info("function URL %s failed: %s", target.function, result.payload[:500])
            return function_url.error_response(502)
        return apigw.map_response(result.payload, "2.0")

    async def _authenticate(
        self, scope: Scope, wire_path: str, body: bytes, target: UrlTarget
    ) -> function_url.IamCaller | None:
        """The signer, or None (403) unless signed for `lambda` by a key of the URL's account."""
        request = sigv4.RawRequest.from_asgi(scope, wire_path, body)
        try:
            info = sigv4.parse_request(request)
            if info.version != 4 or info.service != "lambda":
                return None
            found = await self.lookup(info.access_key)
            if found is None or found[1] != target.account:
                return None
            sigv4.verify(request, found[0], datetime.now(UTC), info)
        except AuthFailure as e:
            log.info("function URL %s: %s", target.url_id, e.message)
            return None
        return function_url.IamCaller(info.access_key, found[1])
