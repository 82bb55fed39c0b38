"""The single endpoint: every AWS-compatible API on one port, routed by the service named
in the request's SigV4 credential scope. Plain ASGI (no framework on the hot path)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from nimbus.api.edge_stream import BodyStream as BodyStream
from nimbus.api.edge_stream import BodyTooLarge as BodyTooLarge
from nimbus.api.edge_stream import ClientDisconnected as ClientDisconnected
from nimbus.api.edge_stream import Receive as Receive
from nimbus.api.edge_stream import Send as Send
from nimbus.api.edge_stream import StreamingResponse as StreamingResponse
from nimbus.api.edge_stream import declares_body, send_stream, unread_body
from nimbus.errors import (
    AuthFailure,
    MissingAuthenticationToken,
    NimbusError,
    RequestEntityTooLarge,
    UnrecognizedClient,
)
from nimbus.ids import random_uuid
from nimbus.protocol import restjson, sigv4

log = logging.getLogger("nimbus.edge")
MAX_BODY = 69_905_067  # a 50 MB zip, base64-encoded in a CreateFunction body
Response = tuple[int, list[tuple[str, str]], bytes]
Scope = dict[str, Any]


@dataclass(slots=True)  # not frozen: a frozen __init__ sets each field via object.__setattr__
class ApiRequest:
    """An authenticated request, as every service adapter receives it."""

    account: str
    method: str
    raw_path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    request_id: str
    # Streaming adapters (S3) get b"" in `body` and the body here, still to be received.
    body_stream: BodyStream | None = None
    signing: sigv4.SignedRequestInfo | None = None
    # SigV4 key of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body (its chunks are signed with it)
    signing_key: bytes | None = None
    # An unsigned request a streaming adapter took (S3 POST forms carry their signature in
    # the body): how it finds secrets; None under --auth open (account is set then).
    key_lookup: KeyLookup | None = None
    source_ip: str = ""  # the client's address (streaming adapters: S3's event records)


class ServiceAdapter(Protocol):
    async def handle(self, request: ApiRequest) -> StreamingResponse: ...


class StreamingAdapter(Protocol):
    """An adapter that takes bodies as streams (no size limit at the edge) and may stream
    replies. The edge verifies the signature from the headers/query only; the adapter checks
    the payload against a signed x-amz-content-sha256 (sigv4.payload_hash_to_check)."""

    streams_body: bool  # True: marks the adapter for the edge (a cheap attribute test)

    async def handle(self, request: ApiRequest) -> StreamingResponse: ...

    def v2_auth_path(self, raw_path: str, host: str) -> str | None:
        """SigV2's canonical resource path if not the wire path (sigv4.RawRequest)."""
        ...

    def error_response(
        self, error: NimbusError, request_id: str, method: str, raw_path: str
    ) -> Response:
        """Errors raised at the edge (authentication), in the service's own shape."""
        ...

    def takes_unsigned(self, method: str, raw_path: str, headers: dict[str, str]) -> bool:
        """Whether a request without any signature is this service's (S3: its paths)."""
        ...

    async def handle_unsigned(self, request: ApiRequest) -> StreamingResponse:
        """An unsigned request it took (account "" unless --auth open)."""
        ...


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
        request_id = random_uuid()
        response: StreamingResponse
        try:
            response = await self._dispatch(scope, receive, request_id)
        except BodyTooLarge:
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
        if not isinstance(out, bytes):
            await send_stream(send, status, headers, out)
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
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

    async def _dispatch(self, scope: Scope, receive: Receive, request_id: str) -> StreamingResponse:
        raw_path = _raw_path(scope)
        for prefix, route in self.extra_routes.items():
            if raw_path.startswith(prefix):
                return await route(scope, await _read_body(receive))
        # The signature is in the headers/query: parse it before the body, so a streaming
        # service (S3) can take the body as it comes.
        request = sigv4.RawRequest.from_asgi(scope, raw_path, b"")
        try:
            info = sigv4.parse_request(request)
        except MissingAuthenticationToken:
            taker = self._unsigned_taker(request, raw_path)
            if taker is None:
                raise
            return await self._unsigned(taker, request, receive, request_id, _client(scope))
        except NimbusError as e:
            streaming = self._streaming_adapter(_guess_service(request))
            if streaming is None:
                raise
            response: StreamingResponse = streaming.error_response(
                e, request_id, request.method, raw_path
            )
            headers = {k.lower(): v for k, v in request.headers}
            if declares_body(headers):
                response = await unread_body(BodyStream(receive), headers, response)
            return response
        adapter = self.adapters.get(info.service)
        if adapter is None:
            raise UnrecognizedClient(f"Nimbus does not serve the '{info.service}' API (yet).")
        if getattr(adapter, "streams_body", False):
            streaming = cast(StreamingAdapter, adapter)
            return await self._stream(streaming, request, info, receive, request_id, _client(scope))
        request.body = body = await _read_body(receive)
        try:
            account = await self._authenticate(request, info)
        except NimbusError as e:
            render = getattr(adapter, "error_response", None)  # query services answer in XML
            if render is None:
                raise
            return cast(Response, render(e, request_id, request.method, raw_path))
        return await adapter.handle(
            ApiRequest(
                account,
                request.method,
                raw_path.split("?", 1)[0],
                _query(request.query_string),
                {k.lower(): v for k, v in request.headers},
                body,
                request_id,
            )
        )

    def _unsigned_taker(self, request: sigv4.RawRequest, raw_path: str) -> StreamingAdapter | None:
        headers = {k.lower(): v for k, v in request.headers}
        for adapter in self.adapters.values():
            if getattr(adapter, "streams_body", False):
                streaming = cast(StreamingAdapter, adapter)
                if streaming.takes_unsigned(request.method, raw_path, headers):
                    return streaming
        return None

    async def _unsigned(
        self,
        adapter: StreamingAdapter,
        request: sigv4.RawRequest,
        receive: Receive,
        request_id: str,
        source_ip: str,
    ) -> StreamingResponse:
        raw_path = request.raw_path if isinstance(request.raw_path, str) else ""
        headers = {k.lower(): v for k, v in request.headers}
        stream = BodyStream(receive)
        response = await adapter.handle_unsigned(
            ApiRequest(
                self.open_account or "",
                request.method,
                raw_path.split("?", 1)[0],
                _query(request.query_string),
                headers,
                b"",
                request_id,
                stream,
                key_lookup=None if self.open_account is not None else self.lookup,
                source_ip=source_ip,
            )
        )
        if not stream.done and declares_body(headers):
            response = await unread_body(stream, headers, response)
        return response

    def _streaming_adapter(self, service: str | None) -> StreamingAdapter | None:
        adapter = self.adapters.get(service) if service else None
        return cast(StreamingAdapter, adapter) if getattr(adapter, "streams_body", False) else None

    async def _stream(
        self,
        adapter: StreamingAdapter,
        request: sigv4.RawRequest,
        info: sigv4.SignedRequestInfo,
        receive: Receive,
        request_id: str,
        source_ip: str,
    ) -> StreamingResponse:
        raw_path = request.raw_path if isinstance(request.raw_path, str) else ""
        headers = {k.lower(): v for k, v in request.headers}
        stream = BodyStream(receive)
        if info.version == 2:
            auth_path = adapter.v2_auth_path(raw_path.split("?", 1)[0], request.host)
            request = dataclasses.replace(request, auth_path=auth_path)
        key: bytes | None = None
        try:
            account, secret = await self._verify(request, info, check_payload=False)
            signed_chunks = headers.get("x-amz-content-sha256", "").startswith(
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
            )
            if secret is not None and signed_chunks and info.version == 4:
                key = sigv4.signing_key(secret, info)
        except NimbusError as e:
            response: StreamingResponse = adapter.error_response(
                e, request_id, request.method, raw_path
            )
        else:
            response = await adapter.handle(
                ApiRequest(
                    account,
                    request.method,
                    raw_path.split("?", 1)[0],
                    _query(request.query_string),
                    headers,
                    b"",
                    request_id,
                    stream,
                    info,
                    key,
                    source_ip=source_ip,
                )
            )
        if not stream.done and declares_body(headers):
            response = await unread_body(stream, headers, response)
        return response

    async def _authenticate(self, request: sigv4.RawRequest, info: sigv4.SignedRequestInfo) -> str:
        return (await self._verify(request, info))[0]

    async def _verify(
        self,
        request: sigv4.RawRequest,
        info: sigv4.SignedRequestInfo,
        check_payload: bool = True,
    ) -> tuple[str, str | None]:
        """(account, secret key: None under --auth open) of a verified request."""
        if self.open_account is not None:
            return self.open_account, None
        found = await self.lookup(info.access_key)
        if found is None:
            raise UnrecognizedClient()
        secret, account = found
        sigv4.verify(request, secret, dt.datetime.now(dt.UTC), info, check_payload=check_payload)
        return account, secret


def _query(query_string: str | bytes) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    if not query_string:  # most API calls (Invoke among them)
        return query
    for key, value in sigv4.parse_query(query_string):
        query.setdefault(key, []).append(value)
    return query


def _guess_service(request: sigv4.RawRequest) -> str | None:
    """Whose request is a malformed one (error path only): SigV2 is S3's alone; a SigV4
    credential names its service even when the rest is broken."""
    authorization = sigv4.header(request.headers, "authorization") or ""
    query = sigv4.parse_query(request.query_string)
    if authorization.startswith("AWS ") or any(k == "AWSAccessKeyId" for k, _ in query):
        return "s3"
    credential = next((v for k, v in query if k == "X-Amz-Credential"), "")
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    parts = credential.split("/")
    return parts[3] if len(parts) >= 4 else None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _raw_path(scope: Scope) -> str:
    """The path as on the wire (percent-encoding kept: signatures cover it)."""
    return str((scope.get("raw_path") or scope["path"].encode()).decode("latin-1"))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


__all__ = ["AuthFailure", "Edge"]
