"""The HTTP gateway of a real server: routes managed through the Nimbus API / CLI."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

from e2e import NIMBUS, NimbusServer, create, make_zip, unique

ECHO = """
import json
def handler(event, context):
    if event.get("rawPath", "").endswith("/teapot"):
        return {"statusCode": 418, "headers": {"x-kind": "teapot"}, "cookies": ["a=1", "b=2"],
                "body": "short and stout"}
    return event
"""


def test_route_through_the_cli_and_the_gateway(server: NimbusServer) -> None:
    lam = server.client()
    name = create(lam, unique("web"), Code={"ZipFile": make_zip({"app.py": ECHO})})["FunctionName"]
    env = server.cli_env() | {"AWS_ENDPOINT_URL": server.endpoint}
    added = subprocess.run(
        [NIMBUS, "route", "add", "ANY /shop/{proxy+}", name],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    listed = subprocess.run(
        [NIMBUS, "route", "ls"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "ANY /shop/{proxy+}" in listed.stdout and name in listed.stdout
    base = f"http://127.0.0.1:{server.gateway_port}"
    request = urllib.request.Request(
        f"{base}/shop/cart/42?q=a&q=b",
        data=b'{"n": 1}',
        method="POST",
        headers={"Content-Type": "application/json", "Cookie": "s=1; t=2"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        event = json.loads(response.read())
    assert event["version"] == "2.0" and event["routeKey"] == "ANY /shop/{proxy+}"
    assert event["rawPath"] == "/shop/cart/42" and event["rawQueryString"] == "q=a&q=b"
    assert event["pathParameters"] == {"proxy": "cart/42"}
    assert event["queryStringParameters"] == {"q": "a,b"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"
    try:
        urllib.request.urlopen(f"{base}/shop/teapot", timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 418 and e.headers["x-kind"] == "teapot"
        assert e.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
        assert e.read() == b"short and stout"
    else:
        raise AssertionError("expected 418")
    try:
        urllib.request.urlopen(f"{base}/elsewhere", timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 404 and json.loads(e.read()) == {"message": "Not Found"}
    removed = subprocess.run(
        [NIMBUS, "route", "rm", "ANY /shop/{proxy+}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert removed.returncode == 0, removed.stderr
