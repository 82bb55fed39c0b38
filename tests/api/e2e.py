"""End-to-end helpers: a real `nimbus server` subprocess, function code, error access.

(A module, not conftest: helpers are imported by name, fixtures come from conftest.)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

BIN = Path(sys.executable).parent
NIMBUS = str(BIN / "nimbus")
AWS = str(BIN / "aws")
ACCOUNT = "000000000000"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
RUNTIME = "python3.12"

# One module for most tests: every behaviour is chosen by the event.
APP = textwrap.dedent(
    """
    import json, logging, os, shutil, sys, time, uuid

    BOOT = uuid.uuid4().hex  # one per execution environment
    VERSION = "v1"

    def handler(event, context):
        event = event if isinstance(event, dict) else {"value": event}
        action = event.get("action")
        if action == "raise":
            raise ValueError("boom: " + str(event.get("msg")))
        if action == "print":
            print(event.get("fill", "x") * event["n"])
        if action == "sleep":
            time.sleep(event["seconds"])
        if action == "big":
            return "x" * event["n"]
        custom = context.client_context.custom if context.client_context else None
        return {
            "version": VERSION,
            "handler": "handler",
            "event": event,
            "boot": BOOT,
            "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn,
            "function_version": context.function_version,
            "memory": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "python": "%d.%d" % sys.version_info[:2],
            "env": {k: os.environ.get(k) for k in event.get("env", [])},
            "custom": custom,
            "tmp_mb": shutil.disk_usage("/tmp").total // (1024 * 1024),
        }

    def other(event, context):
        logging.getLogger().info("other handler ran")
        return {"handler": "other", "version": VERSION, "python": "%d.%d" % sys.version_info[:2]}
    """
)


def make_zip(files: dict[str, str] | None = None, **replace: str) -> bytes:
    """A deployment package; by default APP as app.py (with `VERSION = ...` replaced)."""
    if files is None:
        source = APP
        for key, value in replace.items():
            source = source.replace(f'{key} = "v1"', f"{key} = {value!r}")
        files = {"app.py": source}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # exited, not reaped yet
        return None
    return fields[19]  # field 22: start time in clock ticks


def descendants(pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of every process below `pid` (from /proc)."""
    found: set[tuple[int, str]] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                started = _start_time(child)
                if started is not None and (child, started) not in found:
                    found.add((child, started))
                    todo.append(child)
    return found


def descendants_alive(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    return {(pid, started) for pid, started in processes if _start_time(pid) == started}


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PortTaken(RuntimeError):
    """The server could not bind a port picked for it."""


class NimbusServer:
    """`nimbus server` as a subprocess on a free port with its own data directory."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        auth: str = "sigv4",
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.args = args  # more `nimbus server` options
        self.port = port or free_port()
        self.gateway_port = free_port()
        self.auth = auth
        self.host = host
        self.env = {**os.environ, **(env or {})}
        self.log_path = data_dir.parent / f"{data_dir.name}-server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        # Ports picked here can be taken before the server binds them (any process's
        # outgoing connection may get one): then a first start tries others.
        self._may_move = port is None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def credentials(self) -> dict[str, str]:
        raw: dict[str, str] = json.loads((self.data_dir / "credentials.json").read_text())
        return raw

    def command(self) -> list[str]:
        return [
            NIMBUS, "server", "--host", self.host, "--port", str(self.port),
            "--gateway-port", str(self.gateway_port),
            "--data-dir", str(self.data_dir), "--auth", self.auth, *self.args,
        ]  # fmt: skip

    def start(self, timeout: float = 30) -> NimbusServer:
        for _ in range(3 if self._may_move else 0):
            try:
                return self._start(timeout)
            except PortTaken:
                self.port, self.gateway_port = free_port(), free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> NimbusServer:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                message = f"nimbus server exited {self.process.returncode}:\n{self.log()}"
                if "Address already in use" in self.log()[-600:]:
                    raise PortTaken(message)
                raise RuntimeError(message)
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=1)
            except urllib.error.HTTPError:
                pass  # it answers (403: the request is unsigned)
            except OSError:
                time.sleep(0.05)
                continue
            self._may_move = False  # restarts keep the endpoint clients know
            return self
        self.stop()
        raise RuntimeError(f"nimbus server did not answer within {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait: the exit status. Every process the server started (zygotes,
        environments) must be gone by then."""
        assert self.process is not None
        if self.process.poll() is None:
            started = descendants(self.process.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
            left = descendants_alive(started)
            assert not left, f"processes of the server outlived it: {left}\n{self.log()}"
        return self.process.returncode

    @property
    def stopped_cleanly(self) -> bool:
        """Exited after a graceful shutdown: uvicorn re-raises the SIGTERM it handled."""
        assert self.process is not None
        return self.process.returncode in (0, -signal.SIGTERM)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(
        self,
        service: str = "lambda",
        key: str | None = None,
        secret: str | None = None,
        **config: Any,
    ) -> Any:
        credentials = self.credentials
        config.setdefault("retries", {"total_max_attempts": 1})  # see every error as it is
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key or credentials["access_key_id"],
            aws_secret_access_key=secret or credentials["secret_access_key"],
            config=Config(**config),
        )

    def cli_env(self) -> dict[str, str]:
        credentials = self.credentials
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=credentials["access_key_id"],
            AWS_SECRET_ACCESS_KEY=credentials["secret_access_key"],
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        return env

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`aws --endpoint-url <this server> ...`."""
        result = subprocess.run(
            [AWS, "--endpoint-url", self.endpoint, *args],
            capture_output=True,
            text=True,
            env=self.cli_env(),
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result


def create(
    client: Any, name: str | None = None, wait: bool = True, **fields: Any
) -> dict[str, Any]:
    """CreateFunction (APP by default) and wait until it is Active, as users do."""
    fields.setdefault("Runtime", RUNTIME)
    fields.setdefault("Handler", "app.handler")
    fields.setdefault("Role", ROLE)
    fields.setdefault("Code", {"ZipFile": make_zip()})
    response: dict[str, Any] = client.create_function(FunctionName=name or unique(), **fields)
    if wait:
        client.get_waiter("function_active_v2").wait(FunctionName=response["FunctionName"])
    return response


def invoke_json(
    client: Any, name: str, event: Any = None, **fields: Any
) -> tuple[Any, dict[str, Any]]:
    """Invoke; (decoded payload, response)."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}), **fields)
    return json.loads(response["Payload"].read()), response


def error_of(info: pytest.ExceptionInfo[Any]) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a botocore ClientError."""
    response = info.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def not_found(name: str) -> str:
    return f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def log_lines(server: NimbusServer, function: str, marker: str) -> list[str]:
    """The messages a function printed that start with `marker` (from its log files)."""
    folder = server.data_dir / "logs" / f"aws_lambda_{function}"
    lines: list[str] = []
    for path in sorted(folder.glob("*.log")) if folder.exists() else []:
        for line in path.read_text(errors="replace").splitlines():
            message = line.partition("\t")[2]
            if message.startswith(marker):
                lines.append(message)
    return lines


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    """The first truthy value of `predicate()`; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s")
