"""Asynchronous invoke (InvocationType=Event): durability, retries, destinations, configs."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    ACCOUNT,
    REGION,
    NimbusServer,
    arn,
    create,
    error_of,
    log_lines,
    make_zip,
    unique,
    wait_for,
)

FAST_RETRIES = {"NIMBUS_ASYNC_RETRY_DELAYS": "0.2,0.4"}

SINK = """
import json
def handler(event, context):
    print("SINK " + json.dumps(event, sort_keys=True))
"""

WORKER = """
import json, time
def handler(event, context):
    print("RAN %s %s" % (event["n"], context.aws_request_id))
    if event.get("fail"):
        raise RuntimeError("failing on purpose")
    time.sleep(event.get("sleep", 0))
    return {"n": event["n"]}
"""


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = NimbusServer(tmp_path_factory.mktemp("async") / "data", env=FAST_RETRIES).start()
    yield server
    server.stop()


def sink_records(server: NimbusServer, sink: str, count: int) -> list[dict[str, Any]]:
    lines = wait_for(
        lambda: (found := log_lines(server, sink, "SINK ")) and len(found) >= count and found
    )
    return [json.loads(line[5:]) for line in lines]


def test_event_is_accepted_and_runs_with_on_success_record(fast: NimbusServer) -> None:
    lam = fast.client()
    sink = create(lam, unique("sink"), Code={"ZipFile": make_zip({"app.py": SINK})})
    worker = create(lam, unique("worker"), Code={"ZipFile": make_zip({"app.py": WORKER})})
    name = worker["FunctionName"]
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": sink["FunctionArn"]}}
    )
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 7}')
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["Payload"].read() == b""
    record = sink_records(fast, sink["FunctionName"], 1)[0]
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{arn(name)}:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"n": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"n": 7}
    assert log_lines(fast, name, "RAN ") == [f"RAN 7 {request_id}"]


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_function_errors_are_retried_then_sent_on_failure(fast: NimbusServer, retries: int) -> None:
    lam = fast.client()
    sink = create(lam, unique("sink"), Code={"ZipFile": make_zip({"app.py": SINK})})
    name = create(lam, unique("failing"), Code={"ZipFile": make_zip({"app.py": WORKER})})[
        "FunctionName"
    ]
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=retries,
        DestinationConfig={"OnFailure": {"Destination": sink["FunctionArn"]}},
    )
    response = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=b'{"n": 1, "fail": true}'
    )
    record = sink_records(fast, sink["FunctionName"], 1)[0]
    runs = log_lines(fast, name, "RAN ")
    assert len(runs) == retries + 1
    assert {run.split()[2] for run in runs} == {response["ResponseMetadata"]["RequestId"]}
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == retries + 1
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "failing on purpose"


def test_event_invoke_config_api(fast: NimbusServer) -> None:
    lam = fast.client()
    name = create(lam, unique("cfg"))["FunctionName"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as info:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert error_of(info)[0] == 404
    put = lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120
    )
    assert put["FunctionArn"] == f"{arn(name)}:$LATEST"
    assert put["MaximumRetryAttempts"] == 1 and put["MaximumEventAgeInSeconds"] == 120
    updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert updated["MaximumRetryAttempts"] == 0 and updated["MaximumEventAgeInSeconds"] == 120
    listed = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [c["MaximumRetryAttempts"] for c in listed["FunctionEventInvokeConfigs"]] == [0]
    for bad in ({"MaximumRetryAttempts": 3}, {"MaximumEventAgeInSeconds": 21601}):
        with pytest.raises(lam.exceptions.ClientError) as info:
            lam.put_function_event_invoke_config(FunctionName=name, **bad)
        status, code, message = error_of(info)
        assert (status, code) == (400, "ValidationException") and "failed to satisfy" in message
    with pytest.raises(lam.exceptions.ClientError) as info:
        lam.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": "not-an-arn"}}
        )
    assert error_of(info)[1] == "ValidationException"
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_event_invoke_config(
            FunctionName=name,
            DestinationConfig={
                "OnSuccess": {"Destination": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"}
            },
        )
    lam.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=name)


def test_async_payload_limit_is_one_megabyte(fast: NimbusServer) -> None:
    lam = fast.client()
    name = create(lam, unique("big"))["FunctionName"]
    payload = json.dumps({"pad": "x" * (1024 * 1024)}).encode()
    with pytest.raises(lam.exceptions.ClientError) as info:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload)
    assert error_of(info)[:2] == (413, "RequestEntityTooLargeException")


def test_accepted_events_survive_kill_9(make_server: Any, tmp_path: Path) -> None:
    """N events accepted, the server killed mid-run, restarted: every event ran at least
    once (duplicates are counted and reported, never lost)."""
    server = make_server(env=FAST_RETRIES)
    lam = server.client(max_pool_connections=16)
    name = create(
        lam, unique("durable"), Code={"ZipFile": make_zip({"app.py": WORKER})}, MemorySize=256
    )["FunctionName"]
    total = 150
    for n in range(total):  # ~64 run at once for 0.5 s each: the kill lands mid-run
        response = lam.invoke(
            FunctionName=name,
            InvocationType="Event",
            Payload=json.dumps({"n": n, "sleep": 0.5}).encode(),
        )
        assert response["StatusCode"] == 202
    server.process.kill()  # kill -9: no graceful anything
    server.process.wait()
    ran_before = {int(line.split()[1]) for line in log_lines(server, name, "RAN ")}
    assert len(ran_before) < total, "the kill came too late to test anything"
    server.start()
    wait_for(
        lambda: len({int(x.split()[1]) for x in log_lines(server, name, "RAN ")}) == total,
        timeout=60,
    )
    runs = Counter(int(line.split()[1]) for line in log_lines(server, name, "RAN "))
    lost = [n for n in range(total) if runs[n] == 0]
    duplicated = sum(c - 1 for c in runs.values() if c > 1)
    print(
        f"kill -9 durability: {total} accepted, {len(ran_before)} ran before the kill, "
        f"lost {len(lost)}, duplicated {duplicated}"
    )
    assert lost == []


def test_event_for_a_deleted_function_is_dropped(fast: NimbusServer) -> None:
    lam = fast.client()
    name = create(lam, unique("gone"), Code={"ZipFile": make_zip({"app.py": WORKER})})[
        "FunctionName"
    ]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 1}')  # throttled
    time.sleep(0.5)
    lam.delete_function(FunctionName=name)
    wait_for(lambda: f"function {name} no longer exists; dropped" in fast.log())
    assert log_lines(fast, name, "RAN ") == []
    assert lam.list_functions()["Functions"] is not None  # the server keeps serving


def _throttled_worker(lam: Any, sink_arn: str, **config: Any) -> str:
    """A worker with reserved concurrency 0 (every invoke throttled) and a sink destination."""
    name: str = create(lam, unique("throttled"), Code={"ZipFile": make_zip({"app.py": WORKER})})[
        "FunctionName"
    ]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    destinations = {"OnSuccess": {"Destination": sink_arn}, "OnFailure": {"Destination": sink_arn}}
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig=destinations, **config
    )
    return name


def test_throttled_events_wait_for_concurrency(fast: NimbusServer) -> None:
    """Throttles are not attempts: the event is retried (with backoff) until it can run."""
    lam = fast.client()
    sink = create(lam, unique("sink"), Code={"ZipFile": make_zip({"app.py": SINK})})
    name = _throttled_worker(lam, sink["FunctionArn"], MaximumRetryAttempts=0)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 3}')
    time.sleep(1.5)  # several throttled tries
    assert log_lines(fast, name, "RAN ") == []
    lam.delete_function_concurrency(FunctionName=name)
    record = sink_records(fast, sink["FunctionName"], 1)[0]
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"n": 3}
    assert len(log_lines(fast, name, "RAN ")) == 1


@pytest.mark.slow
def test_events_older_than_their_maximum_age_go_on_failure(fast: NimbusServer) -> None:
    """60 s is AWS' smallest MaximumEventAgeInSeconds: an event throttled that long is
    given up, never run, and its record says why."""
    lam = fast.client()
    sink = create(lam, unique("sink"), Code={"ZipFile": make_zip({"app.py": SINK})})
    name = _throttled_worker(lam, sink["FunctionArn"], MaximumEventAgeInSeconds=60)
    accepted = time.monotonic()
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 4}')
    lines = wait_for(lambda: log_lines(fast, sink["FunctionName"], "SINK "), timeout=90)
    assert time.monotonic() - accepted >= 60
    record = json.loads(lines[0][5:])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert record["requestPayload"] == {"n": 4}
    assert log_lines(fast, name, "RAN ") == []


def test_dead_letter_config_round_trip(fast: NimbusServer) -> None:
    lam = fast.client()
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
    config = create(lam, unique("dlq"), DeadLetterConfig={"TargetArn": queue})
    assert config["DeadLetterConfig"] == {"TargetArn": queue}
    name = config["FunctionName"]
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {
        "TargetArn": queue
    }
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)
