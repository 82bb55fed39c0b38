"""Invoke through boto3: payloads, invocation types, logs, errors, context, concurrency."""

from __future__ import annotations

import base64
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from e2e import arn, create, error_of, invoke_json, make_zip, unique

REPORT = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms"
    r"\tMemory Size: 128 MB\tMax Memory Used: \d+ MB"
)


def test_request_response(lam: Any, echo: str) -> None:
    response = lam.invoke(FunctionName=echo, Payload=json.dumps({"hello": "world"}))
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-executed-version"] == "$LATEST"
    assert "FunctionError" not in response and "x-amz-function-error" not in headers
    assert "LogResult" not in response
    payload = json.loads(response["Payload"].read())
    assert payload["event"] == {"hello": "world"}
    assert payload["request_id"] == response["ResponseMetadata"]["RequestId"]
    assert payload["arn"] == arn(echo)
    assert payload["function_version"] == "$LATEST"

    # Any JSON value is an event; no payload at all is {}.
    assert invoke_json(lam, echo, "text")[0]["event"] == {"value": "text"}
    assert json.loads(lam.invoke(FunctionName=echo)["Payload"].read())["event"] == {}
    # Explicit RequestResponse, qualified by $LATEST and by ARN.
    qualified = lam.invoke(
        FunctionName=arn(echo), Qualifier="$LATEST", InvocationType="RequestResponse"
    )
    assert qualified["StatusCode"] == 200
    # The context names the ARN as invoked, qualifier included.
    assert json.loads(qualified["Payload"].read())["arn"] == arn(echo) + ":$LATEST"


def test_large_payload_round_trip(lam: Any, echo: str) -> None:
    blob = "z" * (2 * 1024 * 1024)
    payload, response = invoke_json(lam, echo, {"blob": blob})
    assert response["StatusCode"] == 200
    assert payload["event"]["blob"] == blob


def test_dry_run(lam: Any, echo: str) -> None:
    response = lam.invoke(FunctionName=echo, InvocationType="DryRun", Payload=b'{"a": 1}')
    assert response["StatusCode"] == 204
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert response["Payload"].read() == b""


def test_log_tail(lam: Any, echo: str) -> None:
    response = lam.invoke(
        FunctionName=echo,
        Payload=json.dumps({"action": "print", "n": 3, "fill": "tail-me "}),
        LogType="Tail",
    )
    request_id = response["ResponseMetadata"]["RequestId"]
    header = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-log-result"]
    assert header == response["LogResult"]
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "tail-me tail-me tail-me " in lines
    assert lines[-2] == f"END RequestId: {request_id}"
    report = REPORT.match(lines[-1])
    assert report is not None, lines[-1]
    assert report["id"] == request_id


def test_each_tail_holds_its_own_last_line(lam: Any, echo: str) -> None:
    """Through the server's event loop (uvloop), 8 at a time: what a function prints just
    before it returns is in its own log tail, never another's."""

    def call(i: int) -> tuple[str, str]:
        mark = f"mark-{i:04d}"
        response = lam.invoke(
            FunctionName=echo,
            Payload=json.dumps({"action": "print", "n": 1, "fill": mark}),
            LogType="Tail",
        )
        return mark, base64.b64decode(response["LogResult"]).decode()

    with ThreadPoolExecutor(8) as pool:
        for mark, tail in pool.map(call, range(120)):
            marks = re.findall(r"mark-\d{4}", tail)
            assert marks == [mark], tail


def test_log_tail_is_the_last_4kb(lam: Any, echo: str) -> None:
    response = lam.invoke(
        FunctionName=echo,
        Payload=json.dumps({"action": "print", "n": 20_000, "fill": "y"}),
        LogType="Tail",
    )
    request_id = response["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(response["LogResult"])
    assert 4000 <= len(tail) <= 4096
    text = tail.decode()
    assert "START RequestId" not in text
    assert f"END RequestId: {request_id}\n" in text
    assert REPORT.search(text) is not None
    assert text.startswith("y")


def test_unhandled_error(lam: Any, echo: str) -> None:
    response = lam.invoke(
        FunctionName=echo, Payload=json.dumps({"action": "raise", "msg": "kaput"}), LogType="Tail"
    )
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-function-error"] == "Unhandled"
    assert response["ExecutedVersion"] == "$LATEST"
    error = json.loads(response["Payload"].read())
    assert error["errorMessage"] == "boom: kaput"
    assert error["errorType"] == "ValueError"
    assert error["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert isinstance(error["stackTrace"], list) and error["stackTrace"]
    assert any('raise ValueError("boom: "' in frame for frame in error["stackTrace"])
    log = base64.b64decode(response["LogResult"]).decode()
    assert "[ERROR] ValueError: boom: kaput" in log
    # The function still works afterwards.
    assert invoke_json(lam, echo, {"after": 1})[0]["event"] == {"after": 1}


def test_client_context(lam: Any, echo: str) -> None:
    context = {
        "client": {"installation_id": "i-1", "app_title": "tests"},
        "custom": {"tenant": "acme", "n": 3},
        "env": {"platform": "linux"},
    }
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    payload, _ = invoke_json(lam, echo, ClientContext=encoded)
    assert payload["custom"] == {"tenant": "acme", "n": 3}
    assert invoke_json(lam, echo)[0]["custom"] is None


def test_pending_function_refuses_invoke_and_updates(lam: Any) -> None:
    # A runtime no other test uses: starting its zygote keeps the function Pending for a
    # few hundred ms, much longer than the next requests take.
    name = create(lam, wait=False, Runtime="python3.10")["FunctionName"]
    pending = (
        409,
        "ResourceConflictException",
        "The operation cannot be performed at this time. The function is currently in the "
        "following state: Pending",
    )
    for call in (
        lambda: lam.invoke(FunctionName=name, Payload=b"{}"),
        lambda: lam.update_function_configuration(FunctionName=name, Timeout=9),
        lambda: lam.update_function_code(FunctionName=name, ZipFile=make_zip(VERSION="v2")),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert error_of(refused) == pending
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Pending"
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    payload, _ = invoke_json(lam, name)
    assert (payload["python"], payload["version"], payload["remaining_ms"] <= 3000) == (
        "3.10",
        "v1",
        True,
    )


def test_concurrent_invokes(lam: Any) -> None:
    name = create(lam, Code={"ZipFile": make_zip()})["FunctionName"]

    def call(i: int) -> tuple[int, Any]:
        response = lam.invoke(
            FunctionName=name, Payload=json.dumps({"i": i, "action": "sleep", "seconds": 0.5})
        )
        return response["StatusCode"], json.loads(response["Payload"].read())

    started = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(call, range(20)))
    elapsed = time.monotonic() - started
    assert [status for status, _ in results] == [200] * 20
    assert [payload["event"]["i"] for _, payload in results] == list(range(20))
    boots = {payload["boot"] for _, payload in results}
    assert len(boots) == 20, "each concurrent invoke needs its own environment"
    assert elapsed < 20 * 0.5 / 2, f"invokes did not run in parallel ({elapsed:.1f} s)"
    # The environments stay warm: a second wave reuses them.
    with ThreadPoolExecutor(20) as pool:
        again = list(pool.map(call, range(20)))
    assert {payload["boot"] for _, payload in again} <= boots


def test_unique_function_per_name(lam: Any) -> None:
    """Two functions with the same code do not share environments."""
    code = make_zip()
    first = create(lam, unique("twin"), Code={"ZipFile": code})["FunctionName"]
    second = create(lam, unique("twin"), Code={"ZipFile": code})["FunctionName"]
    a, _ = invoke_json(lam, first)
    b, _ = invoke_json(lam, second)
    assert a["arn"] == arn(first) and b["arn"] == arn(second)
    assert a["boot"] != b["boot"]


def test_timeout(lam: Any) -> None:
    name = create(lam, Timeout=1)["FunctionName"]
    started = time.monotonic()
    response = lam.invoke(
        FunctionName=name, Payload=json.dumps({"action": "sleep", "seconds": 5}), LogType="Tail"
    )
    assert time.monotonic() - started < 4
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    log = base64.b64decode(response["LogResult"]).decode()
    assert f"{request_id} Task timed out after 1.00 seconds" in log
    # The next invoke gets a fresh environment and works.
    payload, second = invoke_json(lam, name, {"again": True})
    assert "FunctionError" not in second
    assert payload["event"] == {"again": True}


def test_response_over_6mb(lam: Any, echo: str) -> None:
    limit = 6 * 1024 * 1024
    response = lam.invoke(FunctionName=echo, Payload=json.dumps({"action": "big", "n": limit}))
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": f"Response payload size exceeded maximum allowed payload size ({limit} "
        "bytes).",
    }
    # Exactly at the limit is fine ("x" * n is n + 2 bytes of JSON).
    fits = lam.invoke(FunctionName=echo, Payload=json.dumps({"action": "big", "n": limit - 2}))
    assert "FunctionError" not in fits
    assert len(fits["Payload"].read()) == limit


def test_payload_not_json(lam: Any, echo: str) -> None:
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=echo, Payload=b"hello there")
    status, code, message = error_of(refused)
    assert (status, code) == (400, "InvalidRequestContentException")
    assert message.startswith(
        "Could not parse request body into json: Could not parse payload into json: "
    )


def test_client_context_not_base64_json(lam: Any, echo: str) -> None:
    for bad in ("{not base64}", base64.b64encode(b"not json").decode()):
        with pytest.raises(ClientError) as refused:
            lam.invoke(FunctionName=echo, ClientContext=bad)
        assert error_of(refused) == (
            400,
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
        )
