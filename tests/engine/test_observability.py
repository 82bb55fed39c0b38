"""Logs and metering records; the engine without isolation (degraded mode)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest

from harness import EngineHarness
from nimbus.models import InvocationRecord


def test_metering_record_is_persisted(engine: EngineHarness) -> None:
    spec = engine.deploy("def handler(e, c):\n    return 1\n", memory_mb=512)
    result = engine.invoke(spec)
    record = result.record
    assert record.function == spec.name and record.version == "$LATEST"
    assert record.memory_mb == 512 and record.outcome == "success" and record.cold
    assert record.billed_ms >= 1 and record.billed_ms >= record.duration_ms
    assert record.gb_seconds == pytest.approx(record.billed_ms / 1000 * 0.5)
    lines = (engine.config.data_dir / "metering.jsonl").read_bytes().splitlines()
    stored = [msgspec.json.decode(line, type=InvocationRecord) for line in lines]
    assert record in stored


def test_logs_are_stored_per_stream(engine: EngineHarness) -> None:
    spec = engine.deploy("def handler(e, c):\n    print('kept')\n")
    result = engine.invoke(spec)
    group = engine.config.data_dir / "logs" / spec.log_group_name.strip("/").replace("/", "_")
    files = list(group.glob("*.log"))
    assert len(files) == 1
    text = files[0].read_text()
    assert f"START RequestId: {result.record.request_id}" in text and "kept\n" in text


def test_output_written_just_before_returning_is_in_that_invocation(
    engine: EngineHarness,
) -> None:
    """The engine does not re-read the pipe after an answer (the event loop has by then):
    every invocation's last words must still be its own, alone or 8 at a time."""
    spec = engine.deploy(
        """
        import sys
        def handler(event, context):
            sys.stdout.write("x" * event["pad"] + "|" + event["id"] + "\\n")
            sys.stderr.write("err " + event["id"] + "\\n")
            return event["id"]
    """,
        timeout_s=10.0,
    )
    events = [{"id": f"m{i:04d}", "pad": 70_000 if i % 25 == 0 else 0} for i in range(200)]
    results = engine.invoke_many(spec, events, concurrency=8)
    for event, result in zip(events, results, strict=True):
        mark = event["id"]
        assert result.payload == f'"{mark}"'.encode()
        assert f"|{mark}\n" in result.log and f"err {mark}\n" in result.log, result.log[-300:]
        others = [e["id"] for e in events if e["id"] != mark and f"|{e['id']}\n" in result.log]
        assert not others


def test_large_output_is_captured_without_blocking(engine: EngineHarness) -> None:
    spec = engine.deploy(
        """
        import sys
        def handler(event, context):
            for i in range(20000):
                print("line", i)
            return "done"
    """,
        timeout_s=10.0,
    )
    result = engine.invoke(spec)
    assert result.payload == b'"done"'
    assert "line 19999\n" in result.log and "line 0\n" in result.log
    assert len(result.log_tail()) <= 4096 and "line 19999" in result.log_tail()


def test_isolation_none_runs_unconfined(make_engine: Any) -> None:
    engine = make_engine(isolation="none")
    assert not engine.engine.isolated
    spec = engine.deploy("""
        import os
        def handler(event, context):
            return {"cwd": os.getcwd(), "root": os.environ["LAMBDA_TASK_ROOT"]}
    """)
    body = json.loads(engine.invoke(spec).payload)
    assert body["cwd"] == body["root"] == str(Path(spec.code_dir).resolve())


NON_ROOT_SCRIPT = """
import asyncio, logging, pathlib, sys, tempfile
from nimbus.config import EngineConfig
from nimbus.engine.engine import Engine
from nimbus.models import FunctionSpec, Invocation
from nimbus.obs.logs import LogStore
from nimbus.obs.metering import MeteringLog
logging.basicConfig(level=logging.WARNING)

async def main():
    data = pathlib.Path(tempfile.mkdtemp())
    engine = Engine(EngineConfig(data_dir=data), LogStore(None), MeteringLog(None))
    await engine.start()
    code = data / "code" / "f"
    code.mkdir(parents=True)
    (code / "app.py").write_text("import os\\ndef handler(e, c):\\n    return os.getuid()\\n")
    spec = FunctionSpec(name="f", arn="arn:aws:lambda:us-east-1:000000000000:function:f",
                        runtime="python3.11", handler="app.handler", code_dir=str(code))
    result = await engine.invoke(spec, Invocation(request_id="r", payload=b"{}"))
    print("RESULT", result.payload.decode(), engine.isolated)
    await engine.close()

asyncio.run(main())
"""


SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}")


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not SYSTEM_PYTHON.exists(),
    reason="needs root, setpriv and a system python of the same version as the venv",
)
def test_non_root_engine_degrades_loudly() -> None:
    """Started by an unprivileged user, the engine still runs functions and says what is
    missing (here: as uid 65534, so the function runs as that uid, unconfined)."""
    home = Path(tempfile.mkdtemp(prefix="nimbus-nobody-"))
    home.chmod(0o777)
    script = home / "engine.py"
    script.write_text(NON_ROOT_SCRIPT)
    script.chmod(0o644)
    # The venv's interpreter may live under /root; the system one with the venv's packages
    # is what an unprivileged user can run.
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "PYTHONPATH": f"{src}:{site_packages}",
    }
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(SYSTEM_PYTHON)]
    try:
        # A checkout under a private directory (e.g. mktemp -d, mode 0700) is out of reach.
        probe = subprocess.run(
            [*as_nobody, "-c", "import nimbus.engine.engine, msgspec"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        if probe.returncode != 0:
            pytest.skip(f"uid 65534 cannot read this checkout or its venv: {probe.stderr[-200:]}")
        proc = subprocess.run(
            [*as_nobody, str(script)], capture_output=True, text=True, env=env, timeout=60
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    assert "RESULT 65534 False" in proc.stdout
    assert "ISOLATION DEGRADED: not running as root" in proc.stderr


def test_log_group_names_survive_underscores(tmp_path: Path) -> None:
    from nimbus.obs.logs import LogStore

    store = LogStore(tmp_path)
    store.write("/aws/lambda/my_fn", "2026/01/01/[$LATEST]abc", "hello\n")
    assert "/aws/lambda/my_fn" in store.groups()
    assert [m for _, _, m in store.events("/aws/lambda/my_fn")] == ["hello"]
    store.close()
