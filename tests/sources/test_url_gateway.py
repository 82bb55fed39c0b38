"""Function URLs on the gateway under a real uvicorn server, with a real engine, store and
registry, driven by a real HTTP client (host- and path-based URLs, AWS_IAM, CORS), plus the
Lambda API operations through LambdaApi's codec."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from stack import free_port, function_stack, serving

from harness import ACCOUNT, EngineHarness
from nimbus.api.edge import ApiRequest
from nimbus.api.lambda_ import LambdaApi
from nimbus.services.function_urls import FunctionUrls
from nimbus.services.routes import Routes
from nimbus.sources.gateway import Gateway
from nimbus.sources.url_gateway import UrlGateway

KEY, SECRET = "AKIDNIMBUSTEST", "nimbus-test-secret"
OTHER_KEY = "AKIDOTHERACCOUNT"
ECHO = """
import json
def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json",
            "access-control-allow-origin": "https://from-function"},
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
    port: int
    urls: FunctionUrls
    api: LambdaApi
    harness: EngineHarness

    def create(self, name: str, **params: Any) -> str:
        params.setdefault("AuthType", "NONE")
        out = self.harness.run(self.urls.create(ACCOUNT, {"FunctionName": name, **params}))
        url: str = out["FunctionUrl"]
        return url

    def url_id(self, url: str) -> str:
        return url.rstrip("/").rsplit("/", 1)[-1]


async def lookup(access_key: str) -> tuple[str, str] | None:
    return {KEY: (SECRET, ACCOUNT), OTHER_KEY: (SECRET, "111111111111")}.get(access_key)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data = tmp_path_factory.mktemp("urls")
    sources = {"echo": ECHO, "iam": ECHO, "cors": ECHO, "fail": FAIL, "hello": HELLO, "api": HELLO}
    with function_stack(data, sources) as (harness, registry):
        port = free_port()
        urls = FunctionUrls(data / "function_urls.json", registry, f"http://127.0.0.1:{port}")
        routes = Routes(data / "routes.json", registry)
        url_gateway = UrlGateway(urls, registry, harness.engine, lookup, "us-east-1")
        app = Gateway(routes, registry, harness.engine, ACCOUNT, "us-east-1", urls=url_gateway)

        class Stub:  # LambdaApi needs only the URL handlers here
            def __getattr__(self, name: str) -> Any:
                return None

        api = LambdaApi(Stub(), Stub(), Stub(), urls)  # type: ignore[arg-type]
        harness.run(routes.add_route(ACCOUNT, {"RouteKey": "GET /hello", "FunctionName": "hello"}))
        with serving(app, harness, port):
            yield Running(port, urls, api, harness)


@pytest.fixture
def http(gateway: Running) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{gateway.port}", timeout=60) as client:
        yield client


def test_path_based_url(gateway: Running, http: httpx.Client) -> None:
    url = gateway.create("echo")
    url_id = gateway.url_id(url)
    assert url == f"http://127.0.0.1:{gateway.port}/lambda-url/{url_id}/"
    r = http.post(
        f"{url}items/a%20b?x=1&x=2",
        content=b'{"k": 1}',
        headers={"content-type": "application/json", "Cookie": "a=1; b=2"},
    )
    assert r.status_code == 200, r.text
    assert "apigw-requestid" not in r.headers
    event = r.json()
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/items/a%20b"
    assert event["rawQueryString"] == "x=1&x=2"
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False
    assert "pathParameters" not in event and "stageVariables" not in event
    ctx = event["requestContext"]
    assert ctx["accountId"] == "anonymous"
    assert ctx["apiId"] == ctx["domainPrefix"] == url_id
    assert ctx["domainName"] == f"{url_id}.lambda-url.us-east-1.localhost"
    assert ctx["http"]["path"] == "/items/a b"
    assert ctx["requestId"] == r.headers["x-amzn-requestid"]
    assert "authorizer" not in ctx
    # The function's own CORS headers pass through when the URL has no Cors config.
    assert r.headers["access-control-allow-origin"] == "https://from-function"
    # The bare prefix is the root path.
    assert http.get(f"/lambda-url/{url_id}").json()["rawPath"] == "/"


def test_host_based_url(gateway: Running, http: httpx.Client) -> None:
    url_id = gateway.url_id(gateway.create("hello"))
    host = f"{url_id}.lambda-url.us-east-1.localhost"
    r = http.get("/some/path", headers={"Host": f"{host}:{gateway.port}"})
    assert (r.status_code, r.text) == (200, "Hello from Lambda!")
    # Other requests still go through the routes.
    assert http.get("/hello").text == "Hello from Lambda!"
    assert http.get("/nope").json() == {"message": "Not Found"}


def test_unknown_url_and_function_error(gateway: Running, http: httpx.Client) -> None:
    r = http.get("/lambda-url/" + "0" * 32 + "/")
    assert (r.status_code, r.json()) == (404, {"Message": "Not Found"})
    url = gateway.create("fail")
    r = http.get(url)
    assert (r.status_code, r.json()) == (502, {"Message": "Internal Server Error"})


def signed(
    method: str,
    url: str,
    body: bytes = b"",
    key: str = KEY,
    secret: str = SECRET,
    service: str = "lambda",
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body, headers={})
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


def test_aws_iam(gateway: Running, http: httpx.Client) -> None:
    url = gateway.create("iam", AuthType="AWS_IAM")
    r = http.post(url + "x?q=1", content=b"hi")
    assert (r.status_code, r.json()) == (403, {"Message": "Forbidden"})
    headers = signed("POST", url + "x?q=1", b"hi")
    r = http.post(url + "x?q=1", content=b"hi", headers=headers)
    assert r.status_code == 200, r.text
    ctx = r.json()["requestContext"]
    assert ctx["accountId"] == ACCOUNT
    assert ctx["authorizer"]["iam"]["accessKey"] == KEY
    assert ctx["authorizer"]["iam"]["accountId"] == ACCOUNT
    # A different body than signed, a wrong secret, another service, another account: 403.
    assert http.post(url + "x?q=1", content=b"ho", headers=headers).status_code == 403
    bad = signed("POST", url, b"", secret="wrong")
    assert http.post(url, headers=bad).status_code == 403
    assert http.post(url, headers=signed("POST", url, service="s3")).status_code == 403
    assert http.post(url, headers=signed("POST", url, key=OTHER_KEY)).status_code == 403


def test_cors(gateway: Running, http: httpx.Client) -> None:
    cors = {
        "AllowOrigins": ["https://example.com"],
        "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["x-custom"],
        "ExposeHeaders": ["x-item"],
        "MaxAge": 600,
    }
    url = gateway.create("cors", AuthType="AWS_IAM", Cors=cors)
    preflight = {
        "Origin": "https://example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-Custom",
    }
    r = http.options(url, headers=preflight)  # unsigned: preflights never are
    assert r.status_code == 200 and r.content == b""
    assert r.headers["access-control-allow-origin"] == "https://example.com"
    assert r.headers["access-control-allow-methods"] == "GET,POST"
    assert r.headers["access-control-allow-headers"] == "x-custom"
    assert r.headers["access-control-max-age"] == "600"
    r = http.options(url, headers={**preflight, "Origin": "https://evil.com"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers

    headers = {**signed("GET", url), "Origin": "https://example.com"}
    r = http.get(url, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "https://example.com"  # not the function's
    assert r.headers["access-control-expose-headers"] == "x-item"
    r = http.get(url, headers={**signed("GET", url), "Origin": "https://evil.com"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def call(gateway: Running, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    status, _, out = gateway.harness.run(
        gateway.api.handle(ApiRequest(ACCOUNT, method, path, {}, {}, raw, "req-1"))
    )
    return status, json.loads(out) if out else None


def test_lambda_api_operations(gateway: Running) -> None:
    path = "/2021-10-31/functions/api/url"
    status, created = call(gateway, "POST", path, {"AuthType": "NONE", "InvokeMode": "BUFFERED"})
    assert status == 201, created
    assert set(created) == {"FunctionUrl", "FunctionArn", "AuthType", "CreationTime", "InvokeMode"}
    status, error = call(gateway, "POST", path, {"AuthType": "NONE"})
    assert status == 409 and error["Type"] == "User"
    assert "FunctionUrlConfig exists for this Lambda function" in error["message"]
    status, got = call(gateway, "GET", path)
    assert status == 200 and got["FunctionUrl"] == created["FunctionUrl"]
    status, updated = call(gateway, "PUT", path, {"Cors": {"AllowOrigins": ["*"]}})
    assert status == 200 and updated["Cors"] == {"AllowOrigins": ["*"]}
    status, listed = call(gateway, "GET", "/2021-10-31/functions/api/urls")
    assert status == 200 and len(listed["FunctionUrlConfigs"]) == 1
    assert call(gateway, "DELETE", path)[0] == 204
    status, error = call(gateway, "GET", path)
    assert status == 404, error
    status, error = call(gateway, "GET", "/2021-10-31/functions/nope/url")
    assert status == 404 and "Function not found" in error["message"]
    status, error = call(gateway, "POST", path, {"AuthType": "BOGUS"})
    assert status == 400, error
