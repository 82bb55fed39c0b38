"""Custom runtimes (`provided.al2023`): the function's `bootstrap` is exec'd and speaks the
Runtime API over HTTP, exactly as on AWS — the official awslambdaric and a shell script."""

from __future__ import annotations

import json
import shutil
import site
import sys
from pathlib import Path

import pytest

from harness import EngineHarness

SHELL_BOOTSTRAP = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "handling $ID"
  curl -sS -X POST "$API/invocation/$ID/response" -d "{\\"echo\\": $EVENT, \\"task\\": \\"$LAMBDA_TASK_ROOT\\"}" >/dev/null
done
"""


def _site_packages() -> Path:
    return Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))


def vendored_awslambdaric(code: dict[str, str]) -> dict[str, str]:
    """What a Lambda user ships for a custom runtime: the handler, awslambdaric and its deps."""
    return {
        **code,
        "bootstrap": '#!/bin/sh\nexec /usr/bin/python3.11 -m awslambdaric "$_HANDLER"\n',
    }


def copy_ric(spec_code_dir: str) -> None:
    src = _site_packages()
    dst = Path(spec_code_dir)
    for name in ("awslambdaric", "simplejson"):
        shutil.copytree(src / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [src / "snapshot_restore_py.py", *src.glob("runtime_client*.so")]:
        shutil.copy(path, dst / path.name)
    for path in dst.rglob("*"):
        if path.name != "bootstrap":
            path.chmod(0o755 if path.is_dir() else 0o644)


needs_ric = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11)
    or not Path("/usr/bin/python3.11").exists()
    or not (_site_packages() / "awslambdaric").exists(),
    reason="the vendored awslambdaric wheel is cp311 and needs /usr/bin/python3.11",
)


def test_shell_script_bootstrap(engine: EngineHarness) -> None:
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    spec = engine.deploy(
        {"bootstrap": SHELL_BOOTSTRAP}, handler="unused", runtime="provided.al2023"
    )
    first = engine.invoke(spec, b'{"n": 1}')
    assert first.function_error is None, first.payload
    assert json.loads(first.payload)["echo"] == {"n": 1}
    assert f"handling {first.record.request_id}" in first.log
    second = engine.invoke(spec, b'{"n": 2}')
    assert json.loads(second.payload)["echo"] == {"n": 2} and not second.record.cold


@needs_ric
def test_awslambdaric_bootstrap(engine: EngineHarness) -> None:
    spec = engine.deploy(
        vendored_awslambdaric(
            {
                "app.py": """
        import os
        def handler(event, context):
            if event.get("fail"):
                raise KeyError("nope")
            return {"echo": event, "rid": context.aws_request_id,
                    "left": context.get_remaining_time_in_millis(), "fn": context.function_name}
    """
            }
        ),
        runtime="provided.al2023",
        handler="app.handler",
        timeout_s=5.0,
    )
    copy_ric(spec.code_dir)
    result = engine.invoke(spec, b'{"x": 1}')
    assert result.function_error is None, (result.payload, result.log)
    body = json.loads(result.payload)
    assert body["echo"] == {"x": 1} and body["rid"] == result.record.request_id
    assert 4000 < body["left"] <= 5000 and body["fn"] == spec.name
    failed = engine.invoke(spec, b'{"fail": true}')
    assert failed.function_error == "Unhandled"
    error = json.loads(failed.payload)
    assert error["errorType"] == "KeyError" and error["requestId"] == failed.record.request_id
    assert "[ERROR] KeyError: 'nope'" in failed.log
    assert not failed.record.cold


@needs_ric
def test_awslambdaric_init_error(engine: EngineHarness) -> None:
    spec = engine.deploy(
        vendored_awslambdaric({"app.py": "x = 1\n"}),
        runtime="provided.al2023",
        handler="app.missing",
    )
    copy_ric(spec.code_dir)
    result = engine.invoke(spec)
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "Runtime.HandlerNotFound"
    assert result.record.outcome == "init_error"


def test_missing_bootstrap_is_an_exit_error(engine: EngineHarness) -> None:
    spec = engine.deploy({"README": "no bootstrap here"}, runtime="provided.al2023", handler="x")
    result = engine.invoke(spec)
    assert result.function_error == "Unhandled"
    body = json.loads(result.payload)
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 127" in body["errorMessage"]
