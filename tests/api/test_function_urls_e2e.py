"""Function URLs end to end: a real `nimbus server`, boto3 for the Lambda API, httpx on the
gateway port (path-based FunctionUrl, the AWS-like host, AWS_IAM with SigV4, CORS)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e import REGION, NimbusServer, arn, create, error_of, not_found, unique


def url_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def signed(server: NimbusServer, method: str, url: str, body: bytes = b"") -> dict[str, str]:
    credentials = server.credentials
    request = AWSRequest(method=method, url=url, data=body, headers={})
    SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
        "lambda",
        REGION,
    ).add_auth(request)
    return dict(request.headers.items())


def test_url_config_lifecycle(server: NimbusServer, lam: Any) -> None:
    name = create(lam, unique("url"))["FunctionName"]
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    pattern = rf"http://127\.0\.0\.1:{server.gateway_port}/lambda-url/[a-z0-9]{{32}}/"
    assert re.fullmatch(pattern, created["FunctionUrl"])
    assert created["FunctionArn"] == arn(name)
    assert (created["AuthType"], created["InvokeMode"]) == ("NONE", "BUFFERED")
    assert "LastModifiedTime" not in created

    with pytest.raises(botocore.exceptions.ClientError) as info:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert error_of(info) == (
        409,
        "ResourceConflictException",
        f"Failed to create function url config for [functionArn = {arn(name)}]."
        " Error message:  FunctionUrlConfig exists for this Lambda function",
    )

    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["CreationTime"] == created["CreationTime"]
    cors = {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"], "MaxAge": 60}
    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors=cors)
    assert (updated["AuthType"], updated["Cors"]) == ("AWS_IAM", cors)
    assert updated["FunctionUrl"] == created["FunctionUrl"]
    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [created["FunctionUrl"]]

    lam.delete_function_url_config(FunctionName=name)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        lam.get_function_url_config(FunctionName=name)
    assert error_of(info)[:2] == (404, "ResourceNotFoundException")
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    with pytest.raises(botocore.exceptions.ClientError) as info:
        lam.create_function_url_config(FunctionName="no-such-fn", AuthType="NONE")
    assert error_of(info) == (404, "ResourceNotFoundException", not_found("no-such-fn"))


def test_invoke_by_path_and_host(server: NimbusServer, lam: Any) -> None:
    name = create(lam, unique("url"))["FunctionName"]
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    with httpx.Client(timeout=60) as http:
        r = http.post(
            f"{url}a/b?x=1", content=b'{"k": 1}', headers={"content-type": "application/json"}
        )
        assert r.status_code == 200, r.text
        event = r.json()["event"]
        assert event["routeKey"] == "$default"
        assert (event["rawPath"], event["rawQueryString"]) == ("/a/b", "x=1")
        assert event["body"] == '{"k": 1}'
        ctx = event["requestContext"]
        assert ctx["apiId"] == ctx["domainPrefix"] == url_id(url)
        assert ctx["accountId"] == "anonymous"
        assert ctx["requestId"] == r.headers["x-amzn-requestid"]
        assert "pathParameters" not in event and "stageVariables" not in event

        host = f"{url_id(url)}.lambda-url.{REGION}.localhost:{server.gateway_port}"
        r = http.get(f"http://127.0.0.1:{server.gateway_port}/p", headers={"Host": host})
        assert r.status_code == 200 and r.json()["event"]["rawPath"] == "/p"

    lam.delete_function(FunctionName=name)  # its URL goes with it
    assert httpx.get(url, timeout=60).status_code == 404


def test_aws_iam_and_cors(server: NimbusServer, lam: Any) -> None:
    name = create(lam, unique("url"))["FunctionName"]
    cors = {
        "AllowOrigins": ["https://example.com"],
        "AllowMethods": ["POST"],
        "AllowHeaders": ["content-type"],
        "MaxAge": 300,
    }
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors=cors)[
        "FunctionUrl"
    ]
    with httpx.Client(timeout=60) as http:
        r = http.post(url, content=b"{}")
        assert (r.status_code, r.json()) == (403, {"Message": "Forbidden"})
        headers = {**signed(server, "POST", url, b"{}"), "Origin": "https://example.com"}
        r = http.post(url, content=b"{}", headers=headers)
        assert r.status_code == 200, r.text
        ctx = r.json()["event"]["requestContext"]
        assert ctx["authorizer"]["iam"]["accountId"] == ctx["accountId"] == "000000000000"
        assert r.headers["access-control-allow-origin"] == "https://example.com"

        r = http.options(
            url, headers={"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-methods"] == "POST"
        assert r.headers["access-control-max-age"] == "300"


def test_urls_survive_a_restart(make_server: Callable[..., NimbusServer]) -> None:
    first = make_server()
    lam = first.client()
    name = create(lam, unique("url"))["FunctionName"]
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    first.stop()
    second = make_server(data_dir=first.data_dir, start=False)
    second.gateway_port = first.gateway_port  # the URL names the gateway port
    second.start()
    assert second.client().get_function_url_config(FunctionName=name)["FunctionUrl"] == url
    r = httpx.get(url, timeout=60)
    assert r.status_code == 200, r.text
