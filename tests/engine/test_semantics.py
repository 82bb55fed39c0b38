"""Lambda semantics of the engine: handler resolution, errors, context, env, logs, limits."""

from __future__ import annotations

import json
import re
import time

import orjson
import pytest

from harness import EngineHarness, installed_pythons
from nimbus.errors import RequestTooLarge

CONTEXT_FN = """
import os, sys
def handler(event, context):
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_context": context.client_context and context.client_context.custom,
        "cognito": context.identity.cognito_identity_id,
        "env": {k: v for k, v in os.environ.items()},
        "cwd": os.getcwd(),
        "sys_path0": sys.path[0],
        "version": "%d.%d" % sys.version_info[:2],
    }
"""


def test_context_and_reserved_environment(engine: EngineHarness) -> None:
    spec = engine.deploy(
        CONTEXT_FN,
        memory_mb=256,
        timeout_s=5.0,
        environment={"GREETING": "hi", "AWS_REGION": "nope"},
    )
    result = engine.invoke(
        spec,
        b'{"k": [1, 2]}',
        trace_id="Root=1-abc",
        client_context='{"custom": {"a": 1}}',
        cognito_identity='{"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool"}',
    )
    assert result.function_error is None
    body = json.loads(result.payload)
    assert body["event"] == {"k": [1, 2]}
    assert body["request_id"] == result.record.request_id
    assert body["function_name"] == spec.name
    assert body["function_version"] == "$LATEST"
    assert body["arn"] == spec.arn
    assert body["memory"] == "256"
    assert body["log_group"] == f"/aws/lambda/{spec.name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", body["log_stream"])
    assert 4000 < body["remaining"] <= 5000
    assert body["client_context"] == {"a": 1}
    assert body["cognito"] == "id-1"
    env = body["env"]
    assert env["GREETING"] == "hi"
    assert env["AWS_REGION"] == "us-east-1"  # reserved names win over user variables
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["_HANDLER"] == "app.handler"
    assert env["_X_AMZN_TRACE_ID"] == "Root=1-abc"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["TZ"] == ":UTC"
    for name in (
        "AWS_DEFAULT_REGION",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "LANG",
        "PATH",
    ):
        assert env.get(name), name
    assert body["cwd"] == env["LAMBDA_TASK_ROOT"] == body["sys_path0"]
    if engine.engine.isolated:
        assert body["cwd"] == "/var/task"


def test_log_lines_are_exact(engine: EngineHarness) -> None:
    spec = engine.deploy("""
        import logging
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        print("at init")
        def handler(event, context):
            print("hello from", event["who"])
            logger.info("via logging")
            return "ok"
    """)
    first = engine.invoke(spec, b'{"who": "test"}')
    rid = first.record.request_id
    lines = first.log.splitlines()
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert lines[1] == "hello from test"
    assert re.fullmatch(
        rf"\[INFO\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{rid}\tvia logging", lines[2]
    )
    assert lines[3] == f"END RequestId: {rid}"
    assert re.fullmatch(
        rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t",
        lines[4],
    )
    assert "at init" not in first.log  # INIT output goes to the stream before START
    assert "at init" in "".join(engine.logs.recent(spec.log_group_name))
    assert first.record.cold and first.record.init_ms is not None
    second = engine.invoke(spec, b'{"who": "again"}')
    assert "Init Duration" not in second.log
    assert not second.record.cold and second.record.init_ms is None
    assert second.record.billed_ms >= 1
    assert second.log_tail(64).endswith("\n") and len(second.log_tail(64).encode()) <= 64


def test_json_log_format(engine: EngineHarness) -> None:
    spec = engine.deploy(
        """
        import logging
        def handler(event, context):
            logging.getLogger("app").warning("careful %s", 1)
            return None
    """,
        log_format="JSON",
    )
    result = engine.invoke(spec)
    lines = [json.loads(line) for line in result.log.splitlines()]
    assert lines[0]["type"] == "platform.start"
    assert lines[0]["record"] == {"requestId": result.record.request_id, "version": "$LATEST"}
    record = lines[1]
    assert record["level"] == "WARNING" and record["message"] == "careful 1"
    report = lines[-1]
    assert report["type"] == "platform.report" and report["record"]["status"] == "success"
    metrics = report["record"]["metrics"]
    assert metrics["billedDurationMs"] == result.record.billed_ms and "initDurationMs" in metrics
    assert metrics["memorySizeMB"] == 128
    assert record["logger"] == "app" and record["requestId"] == result.record.request_id
    assert result.payload == b"null"


def test_unhandled_exception(engine: EngineHarness) -> None:
    spec = engine.deploy("""
        def handler(event, context):
            return helper()
        def helper():
            raise ValueError("boom")
    """)
    result = engine.invoke(spec)
    assert result.function_error == "Unhandled"
    body = json.loads(result.payload)
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "boom"
    assert body["requestId"] == result.record.request_id
    assert len(body["stackTrace"]) == 2 and "raise ValueError" in body["stackTrace"][1]
    assert "[ERROR] ValueError: boom\rTraceback (most recent call last):\r" in result.log
    assert result.record.outcome == "error"
    again = engine.invoke(spec)  # a handled error does not destroy the environment
    assert not again.record.cold


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"app.py": "x = 1\n"},
            "missing.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named 'missing'",
        ),
        (
            {"app.py": "x = 1\n"},
            "app.handler",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
        (
            {"app.py": "def handler(:\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app'",
        ),
        ({"app.py": "x = 1\n"}, "nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
        (
            {"app.py": "raise RuntimeError('init failed')\n"},
            "app.handler",
            "RuntimeError",
            "init failed",
        ),
        (
            {"app.py": "import no_such_dep\n"},
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'no_such_dep'",
        ),
    ],
)
def test_init_errors(
    engine: EngineHarness, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    spec = engine.deploy(files, handler=handler)
    result = engine.invoke(spec)
    assert result.function_error == "Unhandled"
    body = json.loads(result.payload)
    assert body["errorType"] == error_type
    assert body["errorMessage"].startswith(message)
    assert result.record.outcome == "init_error"
    log = "".join(engine.logs.recent(spec.log_group_name))
    assert f"[ERROR] {error_type}:" in log
    # A failed INIT is never reused: the next invoke starts a new environment.
    assert engine.invoke(spec).record.cold


def test_bytes_response_and_marshal_errors(engine: EngineHarness) -> None:
    spec = engine.deploy("""
        import decimal
        def handler(event, context):
            kind = event["kind"]
            if kind == "bytes":
                return b"\\x00raw"
            if kind == "decimal":
                return {"d": decimal.Decimal("1.5"), "i": decimal.Decimal("2")}
            return {"bad": object()}
    """)
    assert engine.invoke(spec, b'{"kind": "bytes"}').payload == b"\x00raw"
    assert json.loads(engine.invoke(spec, b'{"kind": "decimal"}').payload) == {"d": 1.5, "i": 2}
    bad = engine.invoke(spec, b'{"kind": "object"}')
    assert json.loads(bad.payload)["errorType"] == "Runtime.MarshalError"
    unparsable = engine.invoke(spec, b"{not json")
    assert json.loads(unparsable.payload)["errorType"] == "Runtime.UnmarshalError"


def test_payload_limits(engine: EngineHarness) -> None:
    spec = engine.deploy("""
        def handler(event, context):
            return "x" * event["n"]
    """)
    with pytest.raises(RequestTooLarge):
        engine.invoke(spec, b'{"n": 1, "pad": "' + b"a" * (6 * 1024 * 1024) + b'"}')
    ok = engine.invoke(spec, b'{"n": 1000}')
    assert ok.function_error is None
    big = engine.invoke(spec, b'{"n": 6291456}')
    assert big.function_error == "Unhandled"
    assert orjson.loads(big.payload)["errorType"] == "Function.ResponseSizeTooLarge"


@pytest.mark.parametrize("runtime", installed_pythons())
def test_every_installed_python_runtime(engine: EngineHarness, runtime: str) -> None:
    spec = engine.deploy(
        """
        import sys, os
        def handler(event, context):
            return {"v": "%d.%d" % sys.version_info[:2], "env": os.environ["AWS_EXECUTION_ENV"],
                    "left": context.get_remaining_time_in_millis() > 0}
    """,
        runtime=runtime,
    )
    result = engine.invoke(spec)
    assert result.function_error is None, result.payload
    assert json.loads(result.payload) == {
        "v": runtime.removeprefix("python"),
        "env": f"AWS_Lambda_{runtime}",
        "left": True,
    }


SDK_FN = """
import sys
import boto3, botocore
def handler(event, context):
    import json
    from importlib import util
    return {
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "file": boto3.__file__,
        "s3transfer": util.find_spec("s3transfer") is not None,
        "last": sys.path[-1],
    }
"""


def test_boto3_is_there_as_on_aws(engine: EngineHarness) -> None:
    """Lambda's Python runtimes include boto3; Nimbus' own copy is bound read-only."""
    import boto3
    import botocore

    body = json.loads(engine.invoke(engine.deploy(SDK_FN, timeout_s=30.0)).payload)
    assert body["boto3"] == boto3.__version__ and body["botocore"] == botocore.__version__
    assert body["s3transfer"] is True
    assert body["file"].startswith(body["last"])  # after the function's own paths
    # Bytecode for the runtime is made in the background (the folder is read-only inside).
    sdk = engine.config.data_dir / "sdk"
    deadline = time.monotonic() + 90
    while not (sdk / ".compiled-cpython-312").exists():
        assert time.monotonic() < deadline, "the SDK was not compiled for python3.12"
        time.sleep(0.2)
    assert list((sdk / "botocore" / "__pycache__").glob("*.cpython-312.pyc"))


def test_a_packaged_boto3_wins(engine: EngineHarness) -> None:
    spec = engine.deploy(
        {
            "app.py": "import boto3\ndef handler(e, c):\n    return boto3.__version__\n",
            "boto3/__init__.py": "__version__ = 'mine'\n",
        }
    )
    assert json.loads(engine.invoke(spec).payload) == "mine"
