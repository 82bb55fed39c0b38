"""The HTTP gateway under a real uvicorn server, with a real engine, store and registry,
driven by a real HTTP client."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from stack import free_port, function_stack, serving

from harness import ACCOUNT, EngineHarness
from nimbus.services.routes import Routes
from nimbus.sources.gateway import Gateway

ECHO = """
def handler(event, context):
    return event
"""
CREATED = """
import json
def handler(event, context):
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Item": "42"},
        "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark"],
        "body": json.dumps({"id": 42}),
    }
"""
BINARY = """
import base64
def handler(event, context):
    data = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/octet-stream"},
        "isBase64Encoded": True,
        "body": base64.b64encode(data[::-1]).decode(),
    }
"""
WRAP = """
import json
def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(event)}
"""
FAIL = """
def handler(event, context):
    raise ValueError("boom")
"""
HELLO = """
def handler(event, context):
    return "Hello from Lambda!"
"""


@dataclass
class Running:
    url: str
    routes: Routes
    harness: EngineHarness

    def add(self, key: str, function: str, version: str = "2.0") -> None:
        self.harness.run(
            self.routes.add_route(
                ACCOUNT,
                {"RouteKey": key, "FunctionName": function, "PayloadFormatVersion": version},
            )
        )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data = tmp_path_factory.mktemp("gateway")
    sources = {
        "echo": ECHO,
        "wrap": WRAP,
        "created": CREATED,
        "binary": BINARY,
        "fail": FAIL,
        "hello": HELLO,
        "throttled": HELLO,
    }
    throttled = {"reserved_concurrency": 0}  # always throttled
    with function_stack(data, sources, throttled=throttled) as (harness, registry):
        routes = Routes(data / "routes.json", registry)
        app = Gateway(routes, registry, harness.engine, ACCOUNT, "us-east-1")
        port = free_port()
        with serving(app, harness, port):
            running = Running(f"http://127.0.0.1:{port}", routes, harness)
            running.add("GET /items/{id}", "echo")
            running.add("ANY /v1/{proxy+}", "wrap", "1.0")
            running.add("GET /v1/bare", "echo", "1.0")
            running.add("POST /created", "created")
            running.add("POST /binary", "binary")
            running.add("GET /fail", "fail")
            running.add("GET /hello", "hello")
            running.add("GET /missing", "echo")
            running.add("GET /throttled", "throttled")
            yield running


@pytest.fixture
def http(gateway: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        yield client


def test_v2_event_through_the_gateway(http: httpx.Client) -> None:
    started = int(time.time() * 1000)
    r = http.get(
        "/items/a%20b?color=red&color=blue&size=L",
        headers={"Cookie": "session=abc; theme=dark", "X-Custom": "1", "User-Agent": "tester"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    request_id = r.headers["apigw-requestid"]
    event: dict[str, Any] = r.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/a%20b"
    assert event["rawQueryString"] == "color=red&color=blue&size=L"
    assert event["cookies"] == ["session=abc", "theme=dark"]
    headers = event["headers"]
    assert "cookie" not in headers
    assert headers["x-custom"] == "1"
    assert headers["user-agent"] == "tester"
    assert headers["host"] == http.base_url.netloc.decode()
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert event["queryStringParameters"] == {"color": "red,blue", "size": "L"}
    assert event["pathParameters"] == {"id": "a b"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event and "stageVariables" not in event
    ctx = event["requestContext"]
    assert list(ctx) == [
        "accountId",
        "apiId",
        "domainName",
        "domainPrefix",
        "http",
        "requestId",
        "routeKey",
        "stage",
        "time",
        "timeEpoch",
    ]
    assert ctx["accountId"] == ACCOUNT
    assert len(ctx["apiId"]) == 10
    assert ctx["http"] == {
        "method": "GET",
        "path": "/items/a b",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tester",
    }
    assert ctx["requestId"] == request_id
    assert ctx["stage"] == "$default"
    assert started <= ctx["timeEpoch"] <= int(time.time() * 1000)
    assert ctx["time"].endswith(" +0000")


def test_v1_event_through_the_gateway(http: httpx.Client) -> None:
    r = http.put(
        "/v1/a/b/c?x=1&x=2",
        content=b'{"k": "v"}',
        headers={"content-type": "application/json", "Cookie": "a=1"},
    )
    assert r.status_code == 200, r.text
    event: dict[str, Any] = r.json()
    assert event["version"] == "1.0"
    assert event["resource"] == "/v1/{proxy+}"
    assert event["path"] == "/v1/a/b/c"
    assert event["httpMethod"] == "PUT"
    assert event["headers"]["cookie"] == "a=1"
    assert event["multiValueHeaders"]["content-type"] == ["application/json"]
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["pathParameters"] == {"proxy": "a/b/c"}
    assert event["stageVariables"] is None
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)
    ctx = event["requestContext"]
    assert ctx["httpMethod"] == "PUT"
    assert ctx["resourcePath"] == "/v1/{proxy+}"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["requestId"] == ctx["extendedRequestId"] == r.headers["apigw-requestid"]
    # Format 1.0 infers nothing: a function returning a bare object is a 500.
    r = http.get("/v1/bare")
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})


def test_structured_response_with_cookies(http: httpx.Client) -> None:
    r = http.post("/created", content=b"{}")
    assert r.status_code == 201
    assert r.json() == {"id": 42}
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-item"] == "42"
    assert r.headers.get_list("set-cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark"]
    assert r.headers["content-length"] == str(len(r.content))


def test_binary_round_trip(http: httpx.Client) -> None:
    data = bytes(range(256)) * 64
    r = http.post("/binary", content=data, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content == data[::-1]


def test_bare_string_response(http: httpx.Client) -> None:
    r = http.get("/hello")
    assert (r.status_code, r.text) == (200, "Hello from Lambda!")
    assert r.headers["content-type"] == "application/json"


def test_no_route_is_404(http: httpx.Client) -> None:
    for method, path in [("GET", "/nowhere"), ("DELETE", "/items/1"), ("GET", "/items")]:
        r = http.request(method, path)
        assert (r.status_code, r.json()) == (404, {"message": "Not Found"}), (method, path)
        assert r.headers["apigw-requestid"]


def test_function_error_is_500(http: httpx.Client) -> None:
    r = http.get("/fail")
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})


def test_throttled_is_429(http: httpx.Client) -> None:
    r = http.get("/throttled")
    assert (r.status_code, r.json()) == (429, {"message": "Too Many Requests"})


def test_missing_function_is_500(gateway: Running, http: httpx.Client) -> None:
    gateway.routes._routes[ACCOUNT]["GET /missing"]["function"] = "no-such-function"
    r = http.get("/missing")
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})


def test_body_limits(http: httpx.Client) -> None:
    # Over API Gateway's 10 MB: 413 before anything runs.
    r = http.post("/binary", content=b"x" * (10 * 1024 * 1024 + 1))
    assert (r.status_code, r.json()) == (413, {"message": "Request Entity Too Large"})
    # Under 10 MB but the event would exceed Lambda's 6 MB (base64 grows it by 4/3).
    r = http.post("/binary", content=b"x" * (5 * 1024 * 1024))
    assert r.status_code == 413
    # Just under: it runs.
    data = os.urandom(3 * 1024 * 1024)
    r = http.post("/binary", content=data)
    assert r.status_code == 200 and r.content == data[::-1]


def test_routes_changes_apply_immediately(gateway: Running, http: httpx.Client) -> None:
    assert http.get("/later").status_code == 404
    gateway.add("GET /later", "hello")
    assert http.get("/later").text == "Hello from Lambda!"
    gateway.harness.run(gateway.routes.remove_route(ACCOUNT, {"RouteKey": "GET /later"}))
    assert http.get("/later").status_code == 404


def test_head_and_odd_input(http: httpx.Client) -> None:
    r = http.request("GET", "/items/%ff%fe?%zz=%%&&=", headers={"X-Name": "café".encode()})
    assert r.status_code == 200
    assert r.json()["headers"]["x-name"] == "café"
    assert r.json()["queryStringParameters"] == {"%zz": "%%", "": ""}
    r = http.head("/hello")  # HEAD matches only HEAD (or ANY) routes, as in API Gateway
    assert r.status_code == 404 and r.content == b""
    r = http.head("/v1/x")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 0
