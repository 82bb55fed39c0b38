"""API Gateway HTTP API <-> Lambda proxy integration (pure): events and response mapping.

Event shapes follow AWS' "Create AWS Lambda proxy integrations for HTTP APIs" page
(payload format versions 2.0 and 1.0); route selection lives in `apigw_routes`.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from nimbus.protocol.apigw_routes import (
    DEFAULT_ROUTE,
    METHODS,
    Route,
    RouteKeyError,
    RouteMatch,
    RouteTable,
    parse_route_key,
)

__all__ = [
    "DEFAULT_ROUTE",
    "METHODS",
    "ApiContext",
    "HttpRequest",
    "HttpResponse",
    "Route",
    "RouteKeyError",
    "RouteMatch",
    "RouteTable",
    "build_event",
    "error_response",
    "map_response",
    "parse_route_key",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = (
    "application/json",
    "application/javascript",
    "application/xml",
    "application/graphql",
    "application/x-yaml",
    "application/yaml",
)
JSON = "application/json"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass
class HttpRequest:
    """One request as the gateway received it."""

    method: str
    raw_path: str  # percent-encoded, as on the request line
    query_string: str  # raw, without "?"
    headers: list[tuple[str, str]]  # in order, names as received
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    time_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    request_id: str = ""


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class ApiContext:
    account_id: str
    api_id: str


# --- events ---------------------------------------------------------------------------


def build_event(
    request: HttpRequest, match: RouteMatch, api: ApiContext, version: str = "2.0"
) -> dict[str, Any]:
    if version == "1.0":
        return _event_v1(request, match, api)
    return _event_v2(request, match, api)


def _event_v2(request: HttpRequest, match: RouteMatch, api: ApiContext) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in _forwarded_headers(request):
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        elif name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value
    query = _query_pairs(request.query_string)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.key,
        "rawPath": request.raw_path,
        "rawQueryString": request.query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        joined: dict[str, str] = {}
        for name, value in query:
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        event["queryStringParameters"] = joined
    domain = headers.get("host", "")
    event["requestContext"] = {
        "accountId": api.account_id,
        "apiId": api.api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": unquote(request.raw_path),
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": match.route.key,
        "stage": "$default",
        "time": clf_time(request.time_ms),
        "timeEpoch": request.time_ms,
    }
    body, encoded = _body(request)
    if body is not None:
        event["body"] = body
    if match.path_parameters:
        event["pathParameters"] = match.path_parameters
    event["isBase64Encoded"] = encoded
    return event


def _event_v1(request: HttpRequest, match: RouteMatch, api: ApiContext) -> dict[str, Any]:
    multi_headers: dict[str, list[str]] = {}
    for name, value in _forwarded_headers(request):
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in _query_pairs(request.query_string):
        multi_query.setdefault(name, []).append(value)
    resource = match.route.path or DEFAULT_ROUTE
    path = unquote(request.raw_path)
    domain = multi_headers.get("host", [""])[-1]
    user_agent = multi_headers.get("user-agent", [""])[-1]
    body, encoded = _body(request)
    return {
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": {
            "accountId": api.account_id,
            "apiId": api.api_id,
            "authorizer": {"claims": None, "scopes": None},
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "extendedRequestId": request.request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": path,
            "protocol": request.protocol,
            "requestId": request.request_id,
            "requestTime": clf_time(request.time_ms),
            "requestTimeEpoch": request.time_ms,
            "resourceId": None,
            "resourcePath": resource,
            "stage": "$default",
        },
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": encoded,
    }


def _forwarded_headers(request: HttpRequest) -> list[tuple[str, str]]:
    """Header names as Lambda sees them: lower-case, in order."""
    return [(name.lower(), value) for name, value in request.headers]


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _body(request: HttpRequest) -> tuple[str | None, bool]:
    """(body, isBase64Encoded): text content types travel as text, the rest as base64."""
    if not request.body:
        return None, False
    content_type = ""
    for name, value in request.headers:
        if name.lower() == "content-type":
            content_type = value.split(";", 1)[0].strip().lower()
    if _is_text(content_type):
        try:
            return request.body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _is_text(content_type: str) -> bool:
    return (
        content_type.startswith("text/")
        or content_type in _TEXT_TYPES
        or content_type.endswith(("+json", "+xml"))
    )


def clf_time(epoch_ms: int) -> str:
    """`12/Mar/2020:19:03:58 +0000` (English month names whatever the locale)."""
    t = time.gmtime(epoch_ms / 1000)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


# --- responses ------------------------------------------------------------------------

_ERRORS = {
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def error_response(status: int) -> HttpResponse:
    """API Gateway's own error responses: `{"message":"Not Found"}` etc."""
    body = orjson.dumps({"message": _ERRORS.get(status, "Internal Server Error")})
    return HttpResponse(status, [("content-type", JSON)], body)


class MalformedResponse(ValueError):
    """The function's response cannot be mapped (API Gateway answers 500)."""


def map_response(payload: bytes, version: str = "2.0") -> HttpResponse:
    """The function's response payload -> the HTTP response (500 when malformed)."""
    try:
        return _map(payload, version)
    except MalformedResponse:
        return error_response(500)


def _map(payload: bytes, version: str) -> HttpResponse:
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise MalformedResponse("not JSON") from None
    if version != "1.0" and not (isinstance(value, dict) and "statusCode" in value):
        # Format 2.0 infers: 200, application/json, the body is the response itself.
        body = value.encode() if isinstance(value, str) else payload.strip()
        return HttpResponse(200, [("content-type", JSON)], body)
    if not isinstance(value, dict):
        raise MalformedResponse("not an object")
    status = _status(value.get("statusCode"))
    headers: list[tuple[str, str]] = []
    single = value.get("headers") or {}
    multi = value.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedResponse("headers")
    for name in (*single, *multi):
        if not _TOKEN.match(name):
            raise MalformedResponse("header name")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedResponse("multiValueHeaders")
        headers.extend((name.lower(), _header_value(v)) for v in values)
    seen = {name for name, _ in headers}
    for name, v in single.items():
        if name.lower() not in seen:
            headers.append((name.lower(), _header_value(v)))
    if version != "1.0":
        cookies = value.get("cookies") or []
        if not isinstance(cookies, list):
            raise MalformedResponse("cookies")
        headers.extend(("set-cookie", _header_value(c)) for c in cookies)
    body = _response_body(value.get("body"), value.get("isBase64Encoded", False))
    if not any(name == "content-type" for name, _ in headers) and body:
        headers.append(("content-type", JSON if version == "1.0" else "text/plain; charset=utf-8"))
    return HttpResponse(status, headers, body)


def _status(raw: object) -> int:
    if isinstance(raw, bool):
        raise MalformedResponse("statusCode")
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or not 100 <= raw <= 599:
        raise MalformedResponse("statusCode")
    return raw


def _header_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
        if "\r" in text or "\n" in text:
            raise MalformedResponse("header value")
        return text
    raise MalformedResponse("header value")


def _response_body(body: object, is_base64: object) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse("body must be a string")
    if is_base64 is True or is_base64 == "true":
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("body is not base64") from None
    return body.encode()
