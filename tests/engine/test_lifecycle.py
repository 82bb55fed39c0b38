"""Environment lifecycle: warm reuse, scale-out, throttling, reaping, timeouts, crashes, OOM."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from harness import EngineHarness, requires_root
from nimbus.engine.runtimes import RuntimeRegistry
from nimbus.errors import InvalidParameterValue, RuntimeNotInstalled, TooManyRequests

IDENTITY_FN = """
import os, time, uuid
ENV_ID = uuid.uuid4().hex
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return ENV_ID
"""


def env_ids(engine: EngineHarness, spec: Any, n: int, sleep: float) -> list[str]:
    payload = json.dumps({"sleep": sleep}).encode()
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _: engine.invoke(spec, payload), range(n)))
    return [json.loads(r.payload) for r in results]


def test_warm_reuse_is_most_recently_used_first(engine: EngineHarness) -> None:
    spec = engine.deploy(IDENTITY_FN)
    ids = env_ids(engine, spec, 3, 0.3)  # three concurrent calls: three environments
    assert len(set(ids)) == 3
    # Release order: make environment X the most recently used, then check it is picked.
    last = json.loads(engine.invoke(spec).payload)
    assert last in ids
    for _ in range(3):
        assert json.loads(engine.invoke(spec).payload) == last
    assert engine.engine.stats()["idle"] >= 3


def test_reserved_concurrency_throttles(engine: EngineHarness) -> None:
    spec = engine.deploy(IDENTITY_FN, reserved_concurrency=2)
    errors: list[TooManyRequests] = []

    def call(_: int) -> None:
        try:
            engine.invoke(spec, b'{"sleep": 0.5}')
        except TooManyRequests as e:
            errors.append(e)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(call, range(4)))
    assert len(errors) == 2
    assert errors[0].reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert errors[0].status == 429 and errors[0].code == "TooManyRequestsException"
    zero = engine.deploy(IDENTITY_FN, reserved_concurrency=0)
    with pytest.raises(TooManyRequests):
        engine.invoke(zero)


def test_account_concurrency_limit(make_engine: Any) -> None:
    engine = make_engine(concurrency_limit=2)
    spec = engine.deploy(IDENTITY_FN)
    other = engine.deploy(IDENTITY_FN)
    outcomes: list[str] = []

    def call(target: Any) -> None:
        try:
            engine.invoke(target, b'{"sleep": 0.5}')
            outcomes.append("ok")
        except TooManyRequests as e:
            outcomes.append(e.reason)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(call, [spec, other, spec]))
    assert sorted(outcomes) == ["ConcurrentInvocationLimitExceeded", "ok", "ok"]


def test_keep_alive_reaping(make_engine: Any) -> None:
    engine = make_engine(keep_alive_s=0.2, reap_interval_s=0.1)
    spec = engine.deploy(IDENTITY_FN)
    first = json.loads(engine.invoke(spec).payload)
    assert engine.engine.stats()["idle"] == 1
    deadline = time.monotonic() + 5
    while engine.engine.stats()["environments"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.engine.stats() == {"idle": 0, "busy": 0, "in_flight": 0, "environments": 0}
    result = engine.invoke(spec)
    assert result.record.cold and json.loads(result.payload) != first


def test_prewarm(engine: EngineHarness) -> None:
    spec = engine.deploy("""
        import os
        def handler(event, context):
            return os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
    """)
    assert engine.run(engine.engine.prewarm(spec, 3)) == 3
    result = engine.invoke(spec)
    assert json.loads(result.payload) == "provisioned-concurrency"
    assert not result.record.cold and "Init Duration" not in result.log


def test_timeout_kills_and_reports(engine: EngineHarness) -> None:
    spec = engine.deploy(IDENTITY_FN, timeout_s=1.0)
    started = time.monotonic()
    result = engine.invoke(spec, b'{"sleep": 30}')
    assert time.monotonic() - started < 3
    rid = result.record.request_id
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {rid} Error: Task timed out after 1.00 seconds",
    }
    assert result.record.outcome == "timeout" and result.record.duration_ms == 1000.0
    assert re.search(
        rf"\d{{4}}-\d\d-\d\dT[\d:.]+Z {rid} Task timed out after 1.00 seconds\n$", result.log
    )
    assert engine.invoke(spec).record.cold  # the timed-out environment was destroyed


def test_crash_is_reported_and_not_reused(engine: EngineHarness) -> None:
    spec = engine.deploy("""
        import os
        def handler(event, context):
            if event.get("exit") is not None:
                os._exit(event["exit"])
            return "alive"
    """)
    result = engine.invoke(spec, b'{"exit": 3}')
    rid = result.record.request_id
    assert json.loads(result.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: exit status 3",
    }
    assert result.log.endswith(
        f"RequestId: {rid} Error: Runtime exited with error: exit status 3\nRuntime.ExitError\n"
    )
    assert result.record.outcome == "crash"
    after = engine.invoke(spec)
    assert after.payload == b'"alive"' and after.record.cold


@requires_root
def test_out_of_memory(engine: EngineHarness) -> None:
    spec = engine.deploy(
        """
        def handler(event, context):
            hog = []
            while True:
                hog.append(bytearray(16 * 1024 * 1024))
    """,
        memory_mb=128,
        timeout_s=20.0,
    )
    result = engine.invoke(spec)
    rid = result.record.request_id
    assert json.loads(result.payload) == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: signal: killed",
    }
    assert result.record.outcome == "oom"
    assert result.record.max_memory_mb >= 120
    assert "Max Memory Used: 1" in result.log  # 12x/13x MB, near the limit


def test_missing_runtime_names_it_and_the_fix(tmp_path: Any) -> None:
    registry = RuntimeRegistry(
        {"python3.9": str(tmp_path / "nope")},
        search=lambda version: [str(tmp_path / f"python{version}")],
    )
    with pytest.raises(RuntimeNotInstalled) as info:
        registry.interpreter("python3.9")
    message = str(info.value)
    assert "python3.9" in message and "NIMBUS_RUNTIME_PYTHON3_9" in message
    assert info.value.code == "InvalidParameterValueException"
    with pytest.raises(InvalidParameterValue, match=r"nodejs20\.x"):
        registry.interpreter("nodejs20.x")


def test_configured_interpreter_path(tmp_path: Any) -> None:
    real = RuntimeRegistry().interpreter("python3.11")
    registry = RuntimeRegistry({"python3.11": real}, search=lambda version: [])
    assert registry.interpreter("python3.11") == real


def test_environments_get_distinct_uids_and_pid_namespaces(engine: EngineHarness) -> None:
    if not engine.engine.isolated:
        pytest.skip("needs isolation")
    spec = engine.deploy("""
        import os, time
        def handler(event, context):
            time.sleep(0.3)
            pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
            return [os.getuid(), os.getpid(), pids]
    """)
    payload = b"{}"
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: json.loads(engine.invoke(spec, payload).payload), range(2))
    assert a[0] != b[0] and a[0] >= 990_000
    assert a[1] == b[1] == 1 and a[2] == [1] == b[2]
    assert uuid.UUID(int=0)  # keep uuid import used for readability of ids above
    assert os.getuid() == 0


def test_least_recently_used_idle_environment_makes_room(make_engine: Any) -> None:
    engine = make_engine(max_environments=2)
    first, second, third = (engine.deploy(IDENTITY_FN) for _ in range(3))
    engine.invoke(first)
    engine.invoke(second)
    engine.invoke(first)  # `second` is now the least recently used
    assert engine.engine.stats()["idle"] == 2
    engine.invoke(third)
    deadline = time.monotonic() + 5
    while engine.engine.stats()["environments"] > 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.engine.stats()["environments"] == 2
    assert not engine.invoke(first).record.cold
    assert engine.invoke(second).record.cold


def test_engine_recovers_when_a_zygote_dies(make_engine: Any) -> None:
    engine = make_engine()
    spec = engine.deploy(IDENTITY_FN, timeout_s=10.0)
    engine.invoke(spec)
    zygote = engine.engine._zygotes["python3.12"]
    assert zygote._process is not None
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(engine.invoke, spec, b'{"sleep": 5}')
        time.sleep(0.5)
        os.kill(zygote._process.pid, 9)
        interrupted = pending.result(10)
    # Its environments die with it (parent-death signal); the invocation in flight says so.
    assert json.loads(interrupted.payload)["errorType"] == "Runtime.ExitError"
    again = engine.invoke(spec)
    assert again.function_error is None and again.record.cold


SLOW_INIT_FN = """
import os, time
INIT_START = time.time()
time.sleep(0.4)
INIT_END = time.time()
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "init": [INIT_START, INIT_END]}
"""


def test_cold_starts_of_a_burst_are_gated(make_engine: Any) -> None:
    """At most init_concurrency INITs of one version at once; the rest of a burst waits for
    a released environment or a start slot (and is served, none throttled)."""
    engine = make_engine(init_concurrency=2)
    spec = engine.deploy(SLOW_INIT_FN, timeout_s=30.0)

    def call(_: int) -> dict[str, Any]:
        result = engine.invoke(spec, b'{"sleep": 0.05}')
        assert result.function_error is None, result.payload
        return dict(json.loads(result.payload))

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(call, range(10)))
    inits = {tuple(a["init"]) for a in answers}
    edges = sorted([(start, 1) for start, _ in inits] + [(end, -1) for _, end in inits])
    overlap = peak = 0
    for _, step in edges:
        overlap += step
        peak = max(peak, overlap)
    assert peak <= 2, f"{peak} INITs ran at once"
    assert len(inits) < 10  # released environments served some of the burst
