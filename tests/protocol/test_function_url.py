"""Function-URL events and CORS (pure)."""

from __future__ import annotations

from typing import Any

from nimbus.protocol import apigw, function_url
from nimbus.protocol.function_url import IamCaller

URL_ID = "abcdefghijklmnopqrstuvwxyz012345"
DOMAIN = f"{URL_ID}.lambda-url.us-east-1.localhost"


def request(**overrides: Any) -> apigw.HttpRequest:
    fields: dict[str, Any] = {
        "method": "POST",
        "raw_path": "/my/path",
        "query_string": "parameter1=value1&parameter1=value2&parameter2=value",
        "headers": [
            ("host", DOMAIN),
            ("Cookie", "cookie1=a; cookie2=b"),
            ("user-agent", "agent"),
            ("content-type", "text/plain"),
        ],
        "body": b"Hello from client!",
        "source_ip": "123.123.123.123",
        "time_ms": 1583348638390,
        "request_id": "id",
    }
    fields.update(overrides)
    return apigw.HttpRequest(**fields)


def test_event_matches_aws_shape() -> None:
    event = function_url.build_event(request(), URL_ID, DOMAIN, None)
    assert list(event) == [
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "headers",
        "queryStringParameters",
        "requestContext",
        "body",
        "isBase64Encoded",
    ]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/my/path"
    assert event["rawQueryString"] == "parameter1=value1&parameter1=value2&parameter2=value"
    assert event["cookies"] == ["cookie1=a", "cookie2=b"]
    assert event["queryStringParameters"] == {
        "parameter1": "value1,value2",
        "parameter2": "value",
    }
    assert event["body"] == "Hello from client!"
    assert event["isBase64Encoded"] is False
    assert "pathParameters" not in event and "stageVariables" not in event
    assert event["requestContext"] == {
        "accountId": "anonymous",
        "apiId": URL_ID,
        "domainName": DOMAIN,
        "domainPrefix": URL_ID,
        "http": {
            "method": "POST",
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "sourceIp": "123.123.123.123",
            "userAgent": "agent",
        },
        "requestId": "id",
        "routeKey": "$default",
        "stage": "$default",
        "time": "04/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    }


def test_event_with_iam_authorizer() -> None:
    caller = IamCaller("AKIDEXAMPLE", "111122223333")
    ctx = function_url.build_event(request(), URL_ID, DOMAIN, caller)["requestContext"]
    assert list(ctx)[:4] == ["accountId", "apiId", "authorizer", "domainName"]
    assert ctx["accountId"] == "111122223333"
    assert ctx["authorizer"] == {
        "iam": {
            "accessKey": "AKIDEXAMPLE",
            "accountId": "111122223333",
            "callerId": "111122223333",
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": "arn:aws:iam::111122223333:root",
            "userId": "111122223333",
        }
    }


def test_binary_body_is_base64() -> None:
    req = request(headers=[("content-type", "application/octet-stream")], body=b"\x00\xff")
    event = function_url.build_event(req, URL_ID, DOMAIN, None)
    assert (event["body"], event["isBase64Encoded"]) == ("AP8=", True)


def test_url_ids_are_32_lowercase_alphanumerics() -> None:
    ids = {function_url.new_url_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and i.isalnum() and i == i.lower() for i in ids)


def test_error_body_uses_capital_message() -> None:
    r = function_url.error_response(403)
    assert (r.status, r.body) == (403, b'{"Message":"Forbidden"}')


CORS = {
    "AllowOrigins": ["https://example.com"],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["X-Custom", "Content-Type"],
    "ExposeHeaders": ["X-Item"],
    "MaxAge": 300,
    "AllowCredentials": True,
}


def preflight_headers(
    origin: str, method: str = "POST", headers: str = ""
) -> list[tuple[str, str]]:
    out = [("Origin", origin), ("Access-Control-Request-Method", method)]
    if headers:
        out.append(("Access-Control-Request-Headers", headers))
    return out


def test_preflight_allowed() -> None:
    assert function_url.is_preflight("OPTIONS", preflight_headers("https://example.com"))
    assert not function_url.is_preflight("OPTIONS", [("Origin", "https://example.com")])
    assert not function_url.is_preflight("GET", preflight_headers("https://example.com"))
    r = function_url.preflight(CORS, preflight_headers("https://example.com", "POST", "x-custom"))
    assert r.status == 200 and r.body == b""
    assert dict(r.headers) == {
        "access-control-allow-origin": "https://example.com",
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "X-Custom,Content-Type",
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": "X-Item",
        "access-control-max-age": "300",
        "vary": "Origin",
    }


def test_preflight_refused() -> None:
    for headers in (
        preflight_headers("https://evil.com"),
        preflight_headers("https://example.com", "DELETE"),
        preflight_headers("https://example.com", "GET", "x-other"),
    ):
        r = function_url.preflight(CORS, headers)
        assert r.status == 200
        assert not any(k.startswith("access-control-") for k, _ in r.headers)


def test_wildcards() -> None:
    cors = {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]}
    r = function_url.preflight(cors, preflight_headers("https://a.b", "PATCH", "x-anything"))
    headers = dict(r.headers)
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "*"
    assert "access-control-max-age" not in headers
    # With credentials, "*" is echoed as the origin (browsers refuse "*" with credentials).
    r = function_url.preflight({**cors, "AllowCredentials": True}, preflight_headers("https://a.b"))
    assert dict(r.headers)["access-control-allow-origin"] == "https://a.b"


def test_apply_cors_on_responses() -> None:
    response = apigw.HttpResponse(
        200, [("content-type", "text/plain"), ("access-control-allow-origin", "*")], b"hi"
    )
    allowed = function_url.apply_cors(CORS, [("origin", "https://example.com")], response)
    assert dict(allowed.headers) == {
        "content-type": "text/plain",
        "access-control-allow-origin": "https://example.com",
        "access-control-expose-headers": "X-Item",
        "access-control-allow-credentials": "true",
        "vary": "Origin",
    }
    refused = function_url.apply_cors(CORS, [("origin", "https://evil.com")], response)
    assert dict(refused.headers) == {"content-type": "text/plain"}
    # Without a Cors config the function's own headers pass through untouched.
    assert function_url.apply_cors(None, [("origin", "https://evil.com")], response) is response
