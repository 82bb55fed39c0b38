"""The Runtime API server, driven by real runtime clients (curl, awslambdaric)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from nimbus.engine.runtime_server import HttpTransport, socket_owner_uid
from nimbus.engine.transport import EnvironmentGone, Outcome
from nimbus.models import Invocation

CURL = "/usr/bin/curl"
API = "/2018-06-01/runtime"
TIMEOUT = 20.0

CURL_BOOTSTRAP = r"""#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS="$(mktemp)"
header() { grep -i "^$1:" "$HEADERS" | tr -d '\r' | cut -d' ' -f2- || true; }
while true; do
  BODY="$(curl -sS -D "$HEADERS" "$API/invocation/next")"
  RID="$(header Lambda-Runtime-Aws-Request-Id)"
  ANSWER="{\"event\":$BODY,\"rid\":\"$RID\",\"deadline\":$(header Lambda-Runtime-Deadline-Ms)"
  ANSWER="$ANSWER,\"arn\":\"$(header Lambda-Runtime-Invoked-Function-Arn)\""
  ANSWER="$ANSWER,\"trace\":\"$(header Lambda-Runtime-Trace-Id)\""
  ANSWER="$ANSWER,\"ctype\":\"$(header Content-Type)\"}"
  curl -sS -o /dev/null -X POST "$API/invocation/$RID/response" \
    -H 'Content-Type: application/json' --data-binary "$ANSWER"
done
"""

APP = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("boom: " + event["fail"])
    return {
        "echo": event,
        "rid": context.aws_request_id,
        "remaining_positive": context.get_remaining_time_in_millis() > 0,
    }
"""


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def invocation(request_id: str, payload: Any, **extra: Any) -> Invocation:
    return Invocation(
        request_id=request_id,
        payload=json.dumps(payload).encode(),
        deadline_ms=int(time.time() * 1000) + 30_000,
        invoked_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        **extra,
    )


async def started(allowed_uid: int | None = None) -> HttpTransport:
    transport = HttpTransport(allowed_uid)
    await transport.start()
    return transport


async def spawn(
    transport: HttpTransport, *argv: str, cwd: Path | None = None
) -> asyncio.subprocess.Process:
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": transport.address}
    return await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    await process.communicate()


async def curl(*args: str, user: int | None = None) -> tuple[int, str]:
    """Run curl; returns (exit code, stdout). `-w %{http_code}` goes last in stdout."""
    process = await asyncio.create_subprocess_exec(
        CURL, "-sS", "--max-time", "10", *args, stdout=asyncio.subprocess.PIPE, user=user
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


def wait(future: Awaitable[Any]) -> Awaitable[Any]:
    return asyncio.wait_for(future, TIMEOUT)


# (1) a curl loop, the way a shell `bootstrap` does it


def test_curl_bootstrap_echoes_three_invocations(tmp_path: Path) -> None:
    async def main() -> None:
        transport = await started()
        script = tmp_path / "bootstrap"
        script.write_text(CURL_BOOTSTRAP)
        script.chmod(0o755)
        process = await spawn(transport, str(script))
        try:
            assert await wait(transport.ready()) is None
            for n in range(3):
                inv = invocation(f"rid-{n}", {"n": n}, trace_id=f"Root=1-{n}")
                outcome = await wait(transport.invoke(inv))
                assert outcome.kind == "response"
                assert outcome.content_type == "application/json"
                answer = json.loads(outcome.body)
                assert answer == {
                    "event": {"n": n},
                    "rid": f"rid-{n}",
                    "deadline": inv.deadline_ms,
                    "arn": inv.invoked_arn,
                    "trace": f"Root=1-{n}",
                    "ctype": "application/json",
                }
        finally:
            transport.close()
            await stop(process)

    run(main)


# (2) the official Python runtime interface client


def test_awslambdaric_response_and_error(tmp_path: Path) -> None:
    async def main() -> None:
        (tmp_path / "app.py").write_text(APP)
        transport = await started()
        process = await spawn(
            transport, sys.executable, "-m", "awslambdaric", "app.handler", cwd=tmp_path
        )
        try:
            assert await wait(transport.ready()) is None
            outcome = await wait(transport.invoke(invocation("ok-1", {"a": [1, 2]})))
            assert outcome.kind == "response", outcome
            assert json.loads(outcome.body) == {
                "echo": {"a": [1, 2]},
                "rid": "ok-1",
                "remaining_positive": True,
            }

            outcome = await wait(transport.invoke(invocation("bad-1", {"fail": "x"})))
            assert outcome.kind == "error"
            error = json.loads(outcome.body)
            assert error["errorType"] == "ValueError"
            assert error["errorMessage"] == "boom: x"
            assert error["requestId"] == "bad-1"
            assert isinstance(error["stackTrace"], list) and error["stackTrace"]

            # The environment stays usable after a function error.
            outcome = await wait(transport.invoke(invocation("ok-2", {"b": 2})))
            assert outcome.kind == "response"
            assert json.loads(outcome.body)["rid"] == "ok-2"
        finally:
            transport.close()
            await stop(process)

    run(main)


def test_awslambdaric_import_error_is_an_init_error(tmp_path: Path) -> None:
    async def main() -> None:
        (tmp_path / "broken.py").write_text("import module_that_does_not_exist\n")
        transport = await started()
        process = await spawn(
            transport, sys.executable, "-m", "awslambdaric", "broken.handler", cwd=tmp_path
        )
        try:
            outcome = await wait(transport.ready())
            assert isinstance(outcome, Outcome)
            assert outcome.kind == "init_error"
            assert outcome.error_type == "Runtime.ImportModuleError"
            assert json.loads(outcome.body)["errorType"] == "Runtime.ImportModuleError"
            assert await wait(process.wait()) != 0  # the client exits after init/error
        finally:
            transport.close()
            await stop(process)

    run(main)


# (3) protocol edges, with curl as the runtime


async def next_in_background(transport: HttpTransport) -> asyncio.Task[tuple[int, str]]:
    task = asyncio.create_task(curl("-D", "-", f"http://{transport.address}{API}/invocation/next"))
    await wait(transport.ready())
    return task


async def http(url: str, *args: str) -> tuple[int, str]:
    """(HTTP status, body) of one curl request."""
    _, out = await curl("-w", "\n%{http_code}", *args, url)
    body, _, status = out.rpartition("\n")
    return int(status), body


def test_invalid_and_repeated_request_ids_get_400() -> None:
    async def main() -> None:
        transport = await started()
        base = f"http://{transport.address}{API}/invocation"
        try:
            status, body = await http(f"{base}/nope/response", "-d", "1")
            assert status == 400
            assert json.loads(body) == {
                "errorMessage": "Invalid request ID",
                "errorType": "InvalidRequestID",
            }

            pending = await next_in_background(transport)
            future = transport.invoke(invocation("r1", {}))
            code, out = await wait(pending)
            assert code == 0 and "Lambda-Runtime-Aws-Request-Id: r1" in out

            assert (await http(f"{base}/other/response", "-d", "1"))[0] == 400
            assert not future.done()
            assert await http(f"{base}/r1/response", "-d", '"x"') == (202, '{"status":"OK"}')
            assert await wait(future) == Outcome(
                "response", b'"x"', "application/x-www-form-urlencoded"
            )
            assert (await http(f"{base}/r1/response", "-d", "2"))[0] == 400  # answered already
            assert (await http(f"{base}/r1/error", "-d", "2"))[0] == 400
            assert (await http(f"http://{transport.address}/nowhere"))[0] == 404
        finally:
            transport.close()

    run(main)


def test_error_header_and_response_size_limit(tmp_path: Path) -> None:
    async def main() -> None:
        transport = await started()
        base = f"http://{transport.address}{API}/invocation"

        async def answer(request_id: str, *args: str) -> tuple[Outcome, int, str]:
            pending = await next_in_background(transport)
            future = transport.invoke(invocation(request_id, {}))
            await wait(pending)
            status, body = await http(f"{base}/{request_id}/{args[0]}", *args[1:])
            return await wait(future), status, body

        try:
            header = "Lambda-Runtime-Function-Error-Type: Custom.Err"
            outcome, status, _ = await answer("e1", "error", "-H", header, "-d", "{}")
            assert status == 202
            assert outcome == Outcome("error", b"{}", error_type="Custom.Err")

            # AWS's "6 MB" is 6 MiB + 100 bytes (RAPID's MaxPayloadSize).
            largest = tmp_path / "largest.json"
            largest.write_bytes(b"x" * (6 * 1024 * 1024 + 100))
            outcome, status, _ = await answer("max", "response", "--data-binary", f"@{largest}")
            assert status == 202 and outcome.kind == "response"
            assert len(outcome.body) == 6 * 1024 * 1024 + 100

            too_big = tmp_path / "too_big.json"
            too_big.write_bytes(b"x" * (6 * 1024 * 1024 + 101))
            outcome, status, body = await answer("big", "response", "--data-binary", f"@{too_big}")
            assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
            assert outcome.kind == "error"
            assert outcome.error_type == "Function.ResponseSizeTooLarge"
            assert json.loads(outcome.body) == {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                "(6291556 bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
        finally:
            transport.close()

    run(main)


async def request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, dict[str, str], bytes]:
    """One request/response on a kept-alive connection (a minimal HTTP/1.1 client)."""
    writer.write(raw)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:] if line)
    body = await reader.readexactly(int(headers["Content-Length"]))
    return int(head[0].split()[1]), headers, body


def test_keep_alive_streaming_trailers_and_redelivery() -> None:
    async def main() -> None:
        transport = await started()
        host, port = transport.address.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        next_req = f"GET {API}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        try:
            for n, trailers in enumerate((b"", b"Lambda-Runtime-Function-Error-Type: E\r\n")):
                rid = f"s{n}"
                context = '{"custom":\r\n{"a":1}}'  # CR/LF must not split the header
                extra = {"client_context": context, "cognito_identity": "{}", "tenant_id": "t"}
                future = transport.invoke(invocation(rid, {"n": n}, **extra))
                status, headers, body = await wait(request(reader, writer, next_req))
                assert status == 200 and headers["Lambda-Runtime-Aws-Request-Id"] == rid
                assert json.loads(headers["Lambda-Runtime-Client-Context"]) == {"custom": {"a": 1}}
                assert headers["Lambda-Runtime-Cognito-Identity"] == "{}"
                assert headers["Lambda-Runtime-Aws-Tenant-Id"] == "t"
                assert "Lambda-Runtime-Trace-Id" not in headers  # not set: not sent
                assert json.loads(body) == {"n": n}
                if n:  # an unanswered invocation is handed out again by the next /next
                    _, again, _ = await wait(request(reader, writer, next_req))
                    assert again["Lambda-Runtime-Aws-Request-Id"] == rid
                error_body = base64.b64encode(b'{"errorType":"E","errorMessage":"m"}')
                if trailers:
                    trailers += b"Lambda-Runtime-Function-Error-Body: " + error_body + b"\r\n"
                stream = (
                    (
                        f"POST {API}/invocation/{rid}/response HTTP/1.1\r\nHost: x\r\n"
                        "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
                        "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhello\r\n6\r\n world\r\n0\r\n"
                    ).encode()
                    + trailers
                    + b"\r\n"
                )
                status, _, body = await wait(request(reader, writer, stream))
                assert (status, body) == (202, b'{"status":"OK"}')
                outcome = await wait(future)
                if n == 0:
                    assert outcome == Outcome("response", b"hello world", "text/plain")
                else:
                    assert outcome.kind == "error" and outcome.error_type == "E"
                    assert json.loads(outcome.body) == {"errorType": "E", "errorMessage": "m"}
        finally:
            writer.close()
            transport.close()

    run(main)


def test_pipelined_requests_wait_behind_a_parked_next() -> None:
    async def main() -> None:
        transport = await started()
        host, port = transport.address.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(
                f"GET {API}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
                f"POST {API}/invocation/p1/response HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 2\r\n\r\nok".encode()
            )
            await wait(transport.ready())
            future = transport.invoke(invocation("p1", {}))
            status, headers, _ = await wait(request(reader, writer, b""))
            assert status == 200 and headers["Lambda-Runtime-Aws-Request-Id"] == "p1"
            status, _, _ = await wait(request(reader, writer, b""))
            assert status == 202
            assert await wait(future) == Outcome("response", b"ok")
        finally:
            writer.close()
            transport.close()

    run(main)


def test_init_error_then_next_is_refused() -> None:
    async def main() -> None:
        transport = await started()
        try:
            header = "Lambda-Runtime-Function-Error-Type: Runtime.Custom"
            url = f"http://{transport.address}{API}/init/error"
            assert await http(url, "-H", header, "-d", "{}") == (202, '{"status":"OK"}')
            assert await wait(transport.ready()) == Outcome(
                "init_error", b"{}", error_type="Runtime.Custom"
            )
            status, body = await http(f"http://{transport.address}{API}/invocation/next")
            assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"
        finally:
            transport.close()

    run(main)


def test_abort_and_close_fail_pending_futures() -> None:
    async def main() -> None:
        transport = await started()
        ready = transport.ready()
        transport.abort("process exited")
        with pytest.raises(EnvironmentGone):
            await ready

        transport = await started()
        pending = await next_in_background(transport)
        future = transport.invoke(invocation("gone", {}))
        await wait(pending)
        transport.close()
        with pytest.raises(EnvironmentGone):
            await future

    run(main)


# (4) isolation: only the environment's uid may connect


def test_connections_from_other_uids_are_rejected() -> None:
    async def main() -> None:
        transport = await started(allowed_uid=os.getuid() + 4242)
        try:
            code, out = await curl(f"http://{transport.address}{API}/invocation/next")
            assert code != 0 and out == ""
            assert not transport.ready().done()
        finally:
            transport.close()

        transport = await started(allowed_uid=os.getuid())
        try:
            pending = await next_in_background(transport)
            transport.invoke(invocation("mine", {}))
            code, out = await wait(pending)
            assert code == 0 and "Lambda-Runtime-Aws-Request-Id: mine" in out
        finally:
            transport.close()

    run(main)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run curl as another uid")
def test_connection_from_the_environment_uid_is_accepted() -> None:
    async def main() -> None:
        nobody = 65534
        transport = await started(allowed_uid=nobody)
        try:
            url = f"http://{transport.address}{API}/invocation/next"
            code, _ = await curl(url)  # root is not the environment
            assert code != 0
            pending = asyncio.create_task(curl("-D", "-", url, user=nobody))
            await wait(transport.ready())
            transport.invoke(invocation("nobodys", {}))
            code, out = await wait(pending)
            assert code == 0 and "Lambda-Runtime-Aws-Request-Id: nobodys" in out
        finally:
            transport.close()

    run(main)


def test_socket_owner_uid_reads_proc_net_tcp() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server_port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", server_port)) as client:
            client_port = client.getsockname()[1]
            accepted, _ = server.accept()
            with accepted:
                assert socket_owner_uid(client_port, server_port) == os.getuid()
                assert socket_owner_uid(client_port, server_port, client_host="127.0.0.2") is None
                assert socket_owner_uid(client_port, server_port + 1) is None


def test_socket_owner_uid_over_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback")
    with server:
        server_port = server.getsockname()[1]
        with socket.create_connection(("::1", server_port)) as client:
            client_port = client.getsockname()[1]
            assert socket_owner_uid(client_port, server_port, "::1", "::1") == os.getuid()
