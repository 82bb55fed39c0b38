"""The server process: restarts, --auth open, `nimbus env`, runtimes missing on the host."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError
from e2e import (
    NIMBUS,
    REGION,
    NimbusServer,
    create,
    error_of,
    free_port,
    invoke_json,
    make_zip,
    unique,
)

from nimbus.models import PYTHON_RUNTIMES

MakeServer = Callable[..., NimbusServer]


def test_restart_keeps_functions(make_server: MakeServer, tmp_path: Path) -> None:
    first = make_server(tmp_path / "data")
    lam = first.client()
    plain = create(lam, unique("keep"))["FunctionName"]
    code = make_zip(VERSION="tuned")
    tuned = create(
        lam,
        unique("keep"),
        Code={"ZipFile": code},
        Environment={"Variables": {"COLOR": "blue"}},
        MemorySize=256,
        Tags={"k": "v"},
    )["FunctionName"]
    assert invoke_json(lam, plain)[0]["version"] == "v1"
    before = {n: lam.get_function_configuration(FunctionName=n) for n in (plain, tuned)}
    credentials = first.credentials
    first.stop()
    assert first.stopped_cleanly, first.log()

    second = make_server(tmp_path / "data")  # same data, another port
    assert second.credentials == credentials
    lam = second.client()
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert names == {plain, tuned}
    for name, config in before.items():
        after = lam.get_function_configuration(FunctionName=name)
        assert after["State"] == "Active"
        for key in ("FunctionArn", "CodeSha256", "CodeSize", "MemorySize", "Handler", "Runtime"):
            assert after[key] == config[key], key
    assert lam.get_function_configuration(FunctionName=tuned)["Environment"] == {
        "Variables": {"COLOR": "blue"}
    }
    assert lam.list_tags(Resource=before[tuned]["FunctionArn"])["Tags"] == {"k": "v"}
    assert invoke_json(lam, plain, {"n": 1})[0]["event"] == {"n": 1}
    payload, _ = invoke_json(lam, tuned, {"env": ["COLOR"]})
    assert payload["version"] == "tuned"
    assert payload["env"] == {"COLOR": "blue"}
    assert payload["memory"] == "256"
    # The code download URL points at the running server and still serves the package.
    location = lam.get_function(FunctionName=tuned)["Code"]["Location"]
    assert location.startswith(second.endpoint + "/")
    with urllib.request.urlopen(location, timeout=10) as response:
        assert response.read() == code
    # Still fully usable: new functions next to the old ones.
    fresh = create(lam)["FunctionName"]
    assert invoke_json(lam, fresh)[0]["version"] == "v1"


def test_auth_open_accepts_any_credentials(make_server: MakeServer) -> None:
    server = make_server(auth="open")
    lam = server.client(key="AKIAANYTHINGATALL000", secret="anything goes")
    name = create(lam)["FunctionName"]
    assert invoke_json(lam, name, {"x": 1})[0]["event"] == {"x": 1}
    other = server.client(key="ASIAOTHER", secret="other")
    assert name in {f["FunctionName"] for f in other.list_functions()["Functions"]}
    assert other.get_function_configuration(FunctionName=name)["FunctionArn"].startswith(
        f"arn:aws:lambda:{REGION}:000000000000:function:"
    )


def test_first_start_creates_the_root_account_and_a_private_key_file(
    make_server: MakeServer,
) -> None:
    server = make_server()
    path = server.data_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = server.credentials
    assert credentials["account_id"] == "000000000000"
    assert credentials["access_key_id"].startswith("AKIA")
    assert "Created the root account 000000000000" in server.log()
    assert "eval $(nimbus env)" in server.log()


def test_account_id_is_configurable_on_a_new_data_dir(make_server: MakeServer) -> None:
    server = make_server(args=("--account-id", "123456789012"))
    assert server.credentials["account_id"] == "123456789012"
    lam = server.client()
    name = create(lam)["FunctionName"]
    arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    assert arn == f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
    assert invoke_json(lam, name, {"x": 1})[0]["event"] == {"x": 1}
    assert lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000
    data_dir = server.data_dir
    server.stop()
    again = make_server(data_dir)  # no --account-id: the data dir's own account
    arn_again = again.client().get_function_configuration(FunctionName=name)["FunctionArn"]
    assert arn_again == arn
    again.stop()
    other = make_server(data_dir, start=False, args=("--account-id", "210987654321"))
    with pytest.raises(RuntimeError, match="holds account 123456789012, not 210987654321"):
        other.start()


def test_bad_account_id_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [NIMBUS, "server", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"),
         "--account-id", "12345"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert "12 digits" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_auth_open_refuses_public_host(tmp_path: Path) -> None:
    result = subprocess.run(
        [NIMBUS, "server", "--host", "0.0.0.0", "--port", str(free_port()),
         "--data-dir", str(tmp_path / "data"), "--auth", "open"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--auth open" in result.stderr
    assert "0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_auth_mode_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [NIMBUS, "server", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"),
         "--auth", "none"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--auth" in result.stderr


def test_nimbus_env(server: NimbusServer) -> None:
    result = subprocess.run(
        [NIMBUS, "env", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    credentials = server.credentials
    assert result.stdout.splitlines() == [
        f"export AWS_ENDPOINT_URL={server.endpoint}",
        f"export AWS_ACCESS_KEY_ID={credentials['access_key_id']}",
        f"export AWS_SECRET_ACCESS_KEY={credentials['secret_access_key']}",
        "export AWS_DEFAULT_REGION=us-east-1",
    ]
    # `eval $(nimbus env)` is all the AWS CLI needs: no --endpoint-url, no profile.
    script = f"eval $({NIMBUS} env --data-dir {server.data_dir}) && aws lambda list-functions"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        PATH=f"{Path(NIMBUS).parent}:{env.get('PATH', '')}",
    )
    listed = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout)["Functions"], list)


def test_nimbus_env_without_server(tmp_path: Path) -> None:
    result = subprocess.run(
        [NIMBUS, "env", "--data-dir", str(tmp_path / "never")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "nimbus server" in result.stderr


def _missing_runtime(path: str) -> str | None:
    """A Python runtime with no interpreter once pyenv is out of sight (None: all found)."""
    for runtime in PYTHON_RUNTIMES:
        binary = f"python{runtime.removeprefix('python')}"
        system = any(os.path.exists(f"{d}/{binary}") for d in ("/usr/local/bin", "/usr/bin"))
        if not system and shutil.which(binary, path=path) is None:
            return runtime
    return None


@pytest.fixture(scope="module")
def no_pyenv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NimbusServer, str]]:
    """A server that sees only the system's interpreters, and a runtime it lacks."""
    path = "/usr/bin:/bin"
    runtime = _missing_runtime(path)
    if runtime is None:
        pytest.skip("every Python runtime is installed system-wide here")
    root = tmp_path_factory.mktemp("no-pyenv")
    env = {k: "" for k in os.environ if k.startswith("NIMBUS_RUNTIME_")}  # "": unset
    env.update(PYENV_ROOT=str(root / "pyenv"), PATH=path)
    server = NimbusServer(root / "data", env=env).start()
    yield server, runtime
    server.stop()
    assert server.stopped_cleanly, server.log()


def test_runtime_not_installed(no_pyenv: tuple[NimbusServer, str]) -> None:
    server, runtime = no_pyenv
    lam = server.client()
    name = create(lam, wait=False, Runtime=runtime)["FunctionName"]
    with pytest.raises(WaiterError):
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["State"] == "Failed"
    assert config["StateReasonCode"] == "InvalidRuntime"
    assert f"The runtime {runtime} is not installed" in config["StateReason"]
    assert config["LastUpdateStatus"] == "Failed"
    assert config["LastUpdateStatusReasonCode"] == "InvalidRuntime"
    with pytest.raises(ClientError) as failed:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert error_of(failed) == (
        409,
        "ResourceConflictException",
        "The operation cannot be performed at this time. The function is currently in the "
        "following state: Failed",
    )
    with pytest.raises(ClientError) as dry:
        lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert error_of(dry)[:2] == (409, "ResourceConflictException")


def test_failed_update_to_missing_runtime(no_pyenv: tuple[NimbusServer, str]) -> None:
    server, runtime = no_pyenv
    lam = server.client()
    name = create(lam, Runtime="python3.11")["FunctionName"]
    assert invoke_json(lam, name)[0]["python"] == "3.11"
    lam.update_function_configuration(FunctionName=name, Runtime=runtime)
    with pytest.raises(WaiterError):
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Failed"
    assert config["LastUpdateStatusReasonCode"] == "InvalidRuntime"
    assert f"The runtime {runtime} is not installed" in config["LastUpdateStatusReason"]
    # Fixing the configuration brings it back.
    lam.update_function_configuration(FunctionName=name, Runtime="python3.11", Timeout=7)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    payload, _ = invoke_json(lam, name)
    assert payload["python"] == "3.11"
    assert 3000 < payload["remaining_ms"] <= 7000


def test_failed_update_keeps_previous_configuration(no_pyenv: tuple[NimbusServer, str]) -> None:
    server, runtime = no_pyenv
    lam = server.client()
    name = create(lam, Runtime="python3.11")["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Runtime=runtime)
    with pytest.raises(WaiterError):
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    payload, response = invoke_json(lam, name)
    assert response["StatusCode"] == 200
    assert payload["python"] == "3.11"


def test_sigterm_drains_invocations_in_flight(make_server: MakeServer) -> None:
    """Graceful shutdown: an invocation running when SIGTERM arrives still completes."""
    import threading

    server = make_server()
    lam = server.client(read_timeout=30)
    name = create(lam, Timeout=10)["FunctionName"]
    results: list[Any] = []
    caller = threading.Thread(
        target=lambda: results.append(invoke_json(lam, name, {"action": "sleep", "seconds": 1.5}))
    )
    caller.start()
    time.sleep(0.5)
    server.process.send_signal(signal.SIGTERM)
    caller.join(20)
    payload, response = results[0]
    assert response["StatusCode"] == 200 and payload["event"]["action"] == "sleep"
    server.process.wait(20)
    assert server.stopped_cleanly


def test_body_over_the_upload_limit_names_the_operation(server: NimbusServer) -> None:
    """A CreateFunction body over 69,905,067 bytes (a 50 MB zip in base64): AWS' 413."""
    import http.client

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = server.credentials
    request = AWSRequest("POST", f"{server.endpoint}/2015-03-31/functions", data=b"{}")
    SigV4Auth(
        Credentials(credentials["access_key_id"], credentials["secret_access_key"]),
        "lambda",
        "us-east-1",
    ).add_auth(request)
    body = b" " * 69_905_068
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    connection.request("POST", "/2015-03-31/functions", body=body, headers=headers)
    response = connection.getresponse()
    payload = json.loads(response.read())
    assert response.status == 413
    assert response.getheader("x-amzn-ErrorType") == "RequestEntityTooLargeException"
    assert payload["message"] == (
        "Request must be smaller than 69905067 bytes for the CreateFunction operation"
    )


def test_invocations_run_the_previous_configuration_during_an_update(
    make_server: MakeServer,
) -> None:
    """As AWS: until an update is live (LastUpdateStatus Successful), invocations use the
    previous code and configuration."""
    from harness import installed_pythons

    pythons = installed_pythons()
    if len(pythons) < 2:
        pytest.skip("needs two Python runtimes")
    old, new = pythons[-1], pythons[0]
    server = make_server()  # private: the `new` runtime's zygote has never started here
    lam = server.client()
    name = create(lam, Runtime=old)["FunctionName"]
    assert invoke_json(lam, name)[0]["python"] == old.removeprefix("python")
    lam.update_function_configuration(FunctionName=name, Runtime=new)
    status = lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"]
    during = invoke_json(lam, name)[0]["python"]
    if status == "InProgress":  # the new runtime's zygote takes ~0.2 s to start
        assert during == old.removeprefix("python")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert invoke_json(lam, name)[0]["python"] == new.removeprefix("python")


def test_harness_moves_off_a_port_taken_before_the_server_binds(tmp_path: Path) -> None:
    """The e2e harness picks free ports and starts the server later; another process may
    bind one in between: the first start then moves to other ports (a restart never does)."""
    server = NimbusServer(tmp_path / "data")
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        server.start()
        try:
            assert server.port != taken
            assert server.client().list_functions()["Functions"] == []
        finally:
            server.stop()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placement needs two CPUs")
def test_pinned_placement_runs_the_server_on_one_cpu(make_server: MakeServer) -> None:
    from nimbus.sandbox.placement import allowed_cpus

    cpus = sorted(os.sched_getaffinity(0))
    placed = make_server(env={"NIMBUS_CPU_PLACEMENT": "pinned"})
    assert placed.process is not None
    assert allowed_cpus(placed.process.pid) == str(cpus[-1])
    lam = placed.client()
    name = create(lam)["FunctionName"]
    assert invoke_json(lam, name)[0]["event"] == {}
    spread = make_server(env={"NIMBUS_CPU_PLACEMENT": "spread"})  # the kernel places all
    assert spread.process is not None
    assert allowed_cpus(spread.process.pid) == f"{cpus[0]}-{cpus[-1]}"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placement needs two CPUs")
def test_auto_placement_pins_the_server_while_invokes_come_one_at_a_time(
    make_server: MakeServer,
) -> None:
    """The default, `auto`: spread at first and while invocations overlap, pinned to one
    CPU once they come one at a time (engine/placing.py)."""
    from nimbus.sandbox.placement import allowed_cpus

    cpus = sorted(os.sched_getaffinity(0))
    server = make_server()
    assert server.process is not None
    assert allowed_cpus(server.process.pid) == f"{cpus[0]}-{cpus[-1]}"
    lam = server.client()
    name = create(lam)["FunctionName"]
    deadline = time.monotonic() + 10
    while allowed_cpus(server.process.pid) != str(cpus[-1]):
        assert time.monotonic() < deadline, "never pinned"
        assert invoke_json(lam, name)[0]["event"] == {}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        slow = {"action": "sleep", "seconds": 0.2}  # the four overlap
        list(pool.map(lambda _: invoke_json(lam, name, slow), range(4)))
    assert allowed_cpus(server.process.pid) == f"{cpus[0]}-{cpus[-1]}"


def test_bad_cpu_placement_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [NIMBUS, "server", "--port", str(free_port()), "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=30,
        env={**os.environ, "NIMBUS_CPU_PLACEMENT": "everywhere"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "NIMBUS_CPU_PLACEMENT must be one of auto, spread, pinned" in result.stderr
    assert "Traceback" not in result.stderr
