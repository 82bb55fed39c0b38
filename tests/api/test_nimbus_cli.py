"""Nimbus' own CLI against a real server (it talks only to the HTTP API)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
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
    steps = [line for line in deployed.stderr.splitlines() if line.startswith("✓")]
    assert steps[0].startswith(f"✓ zipped {code} (") and steps[0].endswith(" bytes)")
    assert steps[1:] == [f"✓ created {name}", f"✓ {name} is active"]
    invoked = nimbus(server, "invoke", name, "--payload", '{"n": 1}', "--tail")
    assert json.loads(invoked.stdout) == {"stage": "one", "event": {"n": 1}}
    assert "START RequestId:" in invoked.stderr and "handling 1" in invoked.stderr

    updated = nimbus(server, "deploy", str(code), "--name", name, "--env", "STAGE=two")
    assert [line for line in updated.stderr.splitlines() if line.startswith("✓")][1:] == [
        f"✓ updated the code of {name}",
        f"✓ updated the configuration of {name}",
    ]
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


def _deploy(server: NimbusServer, tmp_path: Path, memory: str = "256") -> str:
    code = tmp_path / "fn"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(APP)
    name = unique("cli")
    nimbus(server, "deploy", str(code), "--name", name, "--env", "STAGE=x", "--memory", memory)
    return name


def test_invoke_payload_from_a_file(server: NimbusServer, tmp_path: Path) -> None:
    name = _deploy(server, tmp_path)
    event = tmp_path / "event.json"
    event.write_text('{"n": 7, "from": "file"}')
    invoked = nimbus(server, "invoke", name, "--payload", f"@{event}")
    assert json.loads(invoked.stdout)["event"] == {"n": 7, "from": "file"}
    missing = nimbus(server, "invoke", name, "--payload", f"@{tmp_path}/none.json", check=False)
    assert missing.returncode != 0 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_logs_follow_prints_lines_as_they_come(server: NimbusServer, tmp_path: Path) -> None:
    name = _deploy(server, tmp_path)
    nimbus(server, "invoke", name, "--payload", '{"n": 1}')
    env = server.cli_env() | {"AWS_ENDPOINT_URL": server.endpoint}
    follower = subprocess.Popen(
        [NIMBUS, "logs", name, "--follow", "--since", "10m", "--data-dir", str(server.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        seen: list[str] = []
        assert follower.stdout is not None
        for line in follower.stdout:  # the first invocation's lines, then the later one's
            seen.append(line)
            if "handling 1" in line:
                nimbus(server, "invoke", name, "--payload", '{"n": 2}')
            if "handling 2" in line:
                break
        assert any("handling 1" in x for x in seen) and any("handling 2" in x for x in seen)
        assert follower.poll() is None  # still following
    finally:
        follower.terminate()
        follower.wait(10)


def _usage_row(output: str, name: str) -> list[str]:
    line = next(x for x in output.splitlines() if name in x)
    return [cell.strip() for cell in line.strip(" │|").split("│")]


def test_usage_counts_requests_and_prices_them(server: NimbusServer, tmp_path: Path) -> None:
    name = _deploy(server, tmp_path, memory="512")
    for i in range(3):
        nimbus(server, "invoke", name, "--payload", json.dumps({"n": i}))
    deadline = time.monotonic() + 10  # metering rows are written in batches
    row = ["", "0"]
    while row[1] != "3" and time.monotonic() < deadline:
        row = _usage_row(nimbus(server, "usage", "--since", "1h").stdout, name)
        time.sleep(0.2)
    assert row[1] == "3", row
    gb_seconds = float(row[2])
    assert 0 < gb_seconds < 3 * 0.5 * 3  # 3 requests of at most 3 s at 0.5 GB
    # AWS x86 by default: $0.20 per million requests and $0.0000166667 per GB-second
    assert float(row[3]) == pytest.approx(3 * 0.2e-6 + gb_seconds * 0.0000166667, rel=0.02)
    priced = nimbus(
        server, "usage", "--since", "1h",
        "--price-per-million-requests", "1000000", "--price-per-gb-second", "0",
    ).stdout  # fmt: skip
    assert _usage_row(priced, name)[3] == "3.0000"  # one dollar a request
    assert "$1000000.00 per million requests, $0.0000000000 per GB-second" in priced
    bad = nimbus(server, "usage", "--price-per-gb-second", "-1", check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_get_usage_rejects_prices_that_are_not_numbers(server: NimbusServer) -> None:
    from nimbus.cli_functions import connect

    connection = connect(server.data_dir, server.endpoint)
    with pytest.raises(RuntimeError, match="ValidationException: PricePerRequest must be"):
        connection.nimbus("GetUsage", {"PricePerRequest": "free"})
