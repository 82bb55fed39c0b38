"""Nimbus' own CLI against a real server (it talks only to the HTTP API)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from e2e import NIMBUS, NimbusServer, unique

APP = """
import os
def handler(event, context):
    print("handling", event.get("n"))
    return {"stage": os.environ.get("STAGE"), "event": event}
"""


def nimbus(
    server: NimbusServer, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = server.cli_env() | {"AWS_ENDPOINT_URL": server.endpoint, "COLUMNS": "200"}
    result = subprocess.run(
        [NIMBUS, *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"nimbus {' '.join(args)}: {result.stdout}{result.stderr}")
    return result


def test_deploy_invoke_ls_logs_usage(server: NimbusServer, tmp_path: Path) -> None:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(APP)
    name = unique("cli")
    deployed = nimbus(
        server, "deploy", str(code), "--name", name, "--env", "STAGE=one", "--memory", "256"
    )
    assert f"function:{name}" in deployed.stdout and "Active" in deployed.stdout
    invoked = nimbus(server, "invoke", name, "--payload", '{"n": 1}', "--tail")
    assert json.loads(invoked.stdout) == {"stage": "one", "event": {"n": 1}}
    assert "START RequestId:" in invoked.stderr and "handling 1" in invoked.stderr

    nimbus(server, "deploy", str(code), "--name", name, "--env", "STAGE=two")  # update
    assert json.loads(nimbus(server, "invoke", name).stdout)["stage"] == "two"

    listed = nimbus(server, "ls").stdout
    assert name in listed and "Active" in listed

    deadline = time.monotonic() + 10
    logs = ""
    while "handling 1" not in logs and time.monotonic() < deadline:
        logs = nimbus(server, "logs", name, "--since", "10m").stdout
        time.sleep(0.2)
    assert "handling 1" in logs and "REPORT RequestId:" in logs

    usage = nimbus(server, "usage", "--since", "1h").stdout
    assert name in usage and "total" in usage


def test_errors_are_clear(server: NimbusServer, tmp_path: Path) -> None:
    missing = nimbus(server, "invoke", unique("nope"), check=False)
    assert missing.returncode == 1
    assert "ResourceNotFoundException" in missing.stderr
    failing = tmp_path / "failing"
    failing.mkdir()
    (failing / "app.py").write_text("def handler(e, c):\n    raise ValueError('no')\n")
    name = unique("failing")
    nimbus(server, "deploy", str(failing), "--name", name)
    result = nimbus(server, "invoke", name, check=False)
    assert result.returncode == 1  # a function error is a failed command
    assert json.loads(result.stdout)["errorType"] == "ValueError"
    bad = nimbus(
        server, "deploy", str(failing), "--name", unique("x"), "--env", "NOEQUALS", check=False
    )
    assert bad.returncode != 0 and "K=V" in bad.stderr
