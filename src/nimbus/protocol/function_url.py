"""Lambda function URLs (pure): the request event, CORS, the URL's own error responses.

The event is payload format 2.0 with `routeKey: "$default"`, `apiId` and `domainPrefix`
the url-id, `requestContext.authorizer.iam` for AWS_IAM URLs, and neither `pathParameters`
nor `stageVariables` (AWS' "Invoking Lambda function URLs" page). A URL with AuthType NONE
has `accountId: "anonymous"`, as AWS sends it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from nimbus.protocol import apigw
from nimbus.protocol.apigw_routes import DEFAULT_ROUTE, RouteMatch, parse_route_key

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_DEFAULT = RouteMatch(parse_route_key(DEFAULT_ROUTE), {})
_CORS_RESPONSE = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
)
_ERRORS = {
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Rate Exceeded.",
    502: "Internal Server Error",
}


def new_url_id() -> str:
    """32 lower-case alphanumerics, like AWS' url-ids."""
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in os.urandom(32))


def domain(url_id: str, region: str) -> str:
    """The AWS-like host of a URL (`<url-id>.lambda-url.<region>.localhost`)."""
    return f"{url_id}.lambda-url.{region}.localhost"


@dataclass(frozen=True)
class IamCaller:
    """Who signed an AWS_IAM request (authorizer.iam in the event)."""

    access_key: str
    account_id: str

    def describe(self) -> dict[str, Any]:
        return {
            "accessKey": self.access_key,
            "accountId": self.account_id,
            "callerId": self.account_id,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{self.account_id}:root",
            "userId": self.account_id,
        }


def build_event(
    request: apigw.HttpRequest, url_id: str, domain_name: str, caller: IamCaller | None
) -> dict[str, Any]:
    """The function-URL event for `request` (its raw_path already without any URL prefix)."""
    event = apigw.build_event(request, _DEFAULT, apigw.ApiContext("", url_id), "2.0")
    event.pop("pathParameters", None)
    base = event["requestContext"]
    context: dict[str, Any] = {
        "accountId": caller.account_id if caller else "anonymous",
        "apiId": url_id,
    }
    if caller is not None:
        context["authorizer"] = {"iam": caller.describe()}
    context["domainName"] = domain_name
    context["domainPrefix"] = url_id
    for key in ("http", "requestId", "routeKey", "stage", "time", "timeEpoch"):
        context[key] = base[key]
    event["requestContext"] = context
    return event


def error_response(status: int) -> apigw.HttpResponse:
    """A URL's own errors: `{"Message":"Forbidden"}` etc. (capital M, unlike API Gateway)."""
    body = orjson.dumps({"Message": _ERRORS.get(status, "Internal Server Error")})
    return apigw.HttpResponse(status, [("content-type", apigw.JSON)], body)


# --- CORS -----------------------------------------------------------------------------


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _allowed_origin(cors: dict[str, Any], origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when not allowed."""
    if not origin:
        return None
    origins = [o.lower().rstrip("/") for o in cors.get("AllowOrigins") or []]
    if origin.lower().rstrip("/") in origins:
        return origin
    if "*" in origins:
        return origin if cors.get("AllowCredentials") else "*"
    return None


def is_preflight(method: str, headers: list[tuple[str, str]]) -> bool:
    return (
        method == "OPTIONS"
        and _header(headers, "origin") is not None
        and _header(headers, "access-control-request-method") is not None
    )


def preflight(cors: dict[str, Any], headers: list[tuple[str, str]]) -> apigw.HttpResponse:
    """The answer to a CORS preflight (never reaches the function): 200, with the
    Access-Control-* headers only when the origin, method and headers are all allowed."""
    allow = _allowed_origin(cors, _header(headers, "origin"))
    method = (_header(headers, "access-control-request-method") or "").strip().upper()
    asked = [
        h.strip().lower()
        for h in (_header(headers, "access-control-request-headers") or "").split(",")
        if h.strip()
    ]
    methods = [m.upper() for m in cors.get("AllowMethods") or []]
    allowed_headers = [h.lower() for h in cors.get("AllowHeaders") or []]
    out: list[tuple[str, str]] = []
    if (
        allow is not None
        and ("*" in methods or method in methods)
        and ("*" in allowed_headers or all(h in allowed_headers for h in asked))
    ):
        out.append(("access-control-allow-origin", allow))
        out.append(("access-control-allow-methods", ",".join(methods) if methods else method))
        if allowed_headers:
            out.append(("access-control-allow-headers", ",".join(cors["AllowHeaders"])))
        if cors.get("AllowCredentials"):
            out.append(("access-control-allow-credentials", "true"))
        if cors.get("ExposeHeaders"):
            out.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))
        if cors.get("MaxAge") is not None:
            out.append(("access-control-max-age", str(cors["MaxAge"])))
        out.append(("vary", "Origin"))
    return apigw.HttpResponse(200, out, b"")


def apply_cors(
    cors: dict[str, Any] | None, headers: list[tuple[str, str]], response: apigw.HttpResponse
) -> apigw.HttpResponse:
    """With a Cors config, the URL's CORS headers replace any the function returned:
    Allow-Origin (and Expose-Headers, Allow-Credentials) when the request's Origin is allowed."""
    if not cors:
        return response
    kept = [(k, v) for k, v in response.headers if k.lower() not in _CORS_RESPONSE]
    allow = _allowed_origin(cors, _header(headers, "origin"))
    if allow is not None:
        kept.append(("access-control-allow-origin", allow))
        if cors.get("ExposeHeaders"):
            kept.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))
        if cors.get("AllowCredentials"):
            kept.append(("access-control-allow-credentials", "true"))
        if not any(k.lower() == "vary" for k, _ in kept):
            kept.append(("vary", "Origin"))
    return apigw.HttpResponse(response.status, kept, response.body)
