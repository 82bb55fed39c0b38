"""`nimbus server --cells 2`: two invoke cells next to the primary, on one port.

The primary deals connections out to the cells; these tests open many of them and check
that the cells serve the Invokes, that everything else reaches the primary through the
cells' handoffs, that changes are seen everywhere at once, and what happens when a cell
or the server stops."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e import REGION, NimbusServer, create, make_zip, unique, wait_for

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="cells need 2 CPUs")

APP = """
import os, time
VERSION = "{version}"
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {{"version": VERSION, "pid": os.getpid()}}
"""


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NimbusServer]:
    server = NimbusServer(tmp_path_factory.mktemp("cells") / "data", args=("--cells", "2"))
    server.start()
    yield server
    server.stop()
    assert server.stopped_cleanly, server.log()


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        path = Path(f"/proc/{pid}/task/{task}/children")
        found += [int(p) for p in path.read_text().split()]
    return found


def cell_pids(server: NimbusServer) -> list[int]:
    assert server.process is not None
    return [
        pid
        for pid in children(server.process.pid)
        if b"nimbus.cells.cell" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def cell_pid(server: NimbusServer) -> int:
    """Cell 1's process."""
    for pid in cell_pids(server):
        if b'"index": 1,' in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise AssertionError("no cell process")


def environments_under(pid: int) -> int:
    """Environment processes under a cell or the primary (children of their zygotes)."""
    zygotes = [
        p for p in children(pid) if b"runtime/entry.py" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    return sum(len(children(z)) for z in zygotes)


class Connection:
    """One keep-alive HTTP connection, requests signed as botocore signs them."""

    def __init__(self, server: NimbusServer) -> None:
        self.server = server
        self.http = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        keys = server.credentials
        self.keys = Credentials(keys["access_key_id"], keys["secret_access_key"])

    def call(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        service: str = "lambda",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        request = AWSRequest(
            method=method, url=self.server.endpoint + path, data=body, headers=headers or {}
        )
        signer = S3SigV4Auth if service == "s3" else SigV4Auth
        signer(self.keys, service, REGION).add_auth(request)
        self.http.request(method, path, body, dict(request.headers.items()))
        response = self.http.getresponse()
        return response.status, response.read()

    def invoke(self, name: str, event: dict[str, Any] | None = None, **headers: str) -> Any:
        path = f"/2015-03-31/functions/{name}/invocations"
        fields = {k.replace("_", "-"): v for k, v in headers.items()}
        status, body = self.call("POST", path, json.dumps(event or {}).encode(), headers=fields)
        return status, json.loads(body) if body else None

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def connections(cells: NimbusServer) -> Iterator[list[Connection]]:
    made = [Connection(cells) for _ in range(12)]
    yield made
    for connection in made:
        connection.close()


def deploy(server: NimbusServer, version: str = "v1") -> str:
    lam = server.client()
    code = {"ZipFile": make_zip({"app.py": APP.format(version=version)})}
    name: str = create(lam, unique("cell"), Code=code)["FunctionName"]
    return name


def test_the_cells_serve_the_invokes(cells: NimbusServer, connections: list[Connection]) -> None:
    name = deploy(cells)
    assert cells.process is not None
    warmed = environments_under(cells.process.pid)  # activation's warm-up ran in the primary
    with ThreadPoolExecutor(len(connections)) as pool:
        results = list(pool.map(lambda c: [c.invoke(name) for _ in range(5)], connections))
    assert all(status == 200 and out["version"] == "v1" for r in results for status, out in r)
    assert cells.process is not None
    pids = cell_pids(cells)
    assert len(pids) == 2
    for pid in pids:
        assert environments_under(pid) >= 1, f"no connection was served by cell {pid}"
    assert environments_under(cells.process.pid) == warmed, "the primary ran a dealt Invoke"
    # each cell (every thread of it) on a CPU of its own; the primary on all of them
    placed = [
        {frozenset(os.sched_getaffinity(int(t))) for t in os.listdir(f"/proc/{pid}/task")}
        for pid in pids
    ]
    assert all(len(threads) == 1 and len(next(iter(threads))) == 1 for threads in placed)
    assert len(set().union(*placed)) == 2
    assert os.sched_getaffinity(cells.process.pid) == os.sched_getaffinity(0)


def test_no_process_of_the_server_but_the_primary_holds_its_port(cells: NimbusServer) -> None:
    """Listening sockets are not inherited: not by cells, zygotes or environments."""
    assert cells.process is not None
    holders = set()
    port = f":{cells.port:04X}".encode()
    inodes = {
        line.split()[9]
        for line in Path("/proc/net/tcp").read_bytes().splitlines()[1:]
        if line.split()[1].endswith(port) and line.split()[3] == b"0A"  # LISTEN
    }
    for pid in [cells.process.pid, *_descendants(cells.process.pid)]:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}").encode()
                if target.startswith(b"socket:[") and target[8:-1] in inodes:
                    holders.add(pid)
    assert holders == {cells.process.pid}


def _descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [d for child in found for d in _descendants(child)]


def test_other_requests_on_any_connection_reach_the_primary(
    cells: NimbusServer, connections: list[Connection]
) -> None:
    """Each connection: an Invoke, then other APIs (handed off where a cell held it), then
    Invokes again (now the primary's connection), an Event invoke, S3 with a 3 MB body."""
    name = deploy(cells)
    bucket = unique("cells-bucket")
    first = connections[0].call("PUT", f"/{bucket}", service="s3")
    assert first[0] == 200, first
    payload = os.urandom(3 * 1024 * 1024)

    def session(i: int, connection: Connection) -> None:
        assert connection.invoke(name)[0] == 200
        status, body = connection.call("GET", "/2015-03-31/functions/")
        assert status == 200 and name in body.decode()
        key = f"/{bucket}/object-{i}"
        assert connection.call("PUT", key, payload, service="s3")[0] == 200
        status, body = connection.call("GET", key, service="s3")
        assert status == 200 and body == payload
        assert connection.invoke(name)[0] == 200
        status, _ = connection.invoke(name, X_Amz_Invocation_Type="Event")
        assert status == 202

    with ThreadPoolExecutor(len(connections)) as pool:
        list(pool.map(session, range(len(connections)), connections))
    assert "could not hand" not in cells.log()


def test_changes_are_seen_by_every_connection_at_once(
    cells: NimbusServer, connections: list[Connection]
) -> None:
    name = deploy(cells)
    for connection in connections:
        assert connection.invoke(name)[1]["version"] == "v1"
    lam = cells.client()
    lam.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": APP.format(version="v2")})
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    for connection in connections:
        assert connection.invoke(name)[1]["version"] == "v2"
    lam.delete_function(FunctionName=name)
    for connection in connections:
        status, body = connection.invoke(name)
        assert status == 404 and "Function not found" in json.dumps(body)


def test_reserved_concurrency_is_exact_across_cells(
    cells: NimbusServer, connections: list[Connection]
) -> None:
    name = deploy(cells)
    cells.client().put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    with ThreadPoolExecutor(len(connections)) as pool:
        statuses = list(pool.map(lambda c: c.invoke(name, {"sleep": 1.0})[0], connections))
    assert sorted(statuses).count(200) == 2, statuses
    assert set(statuses) == {200, 429}


def test_a_cell_that_dies_is_restarted(cells: NimbusServer) -> None:
    name = deploy(cells)
    first = cell_pid(cells)
    os.kill(first, signal.SIGKILL)
    second = wait_for(lambda: (pid := _cell_or_none(cells)) not in (None, first) and pid)
    assert second != first
    connection = Connection(cells)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the new cell serves once it is up
            assert connection.invoke(name)[0] == 200
            if environments_under(second):
                break
            connection.close()
            connection = Connection(cells)
        assert environments_under(second) >= 1
    finally:
        connection.close()
    assert "cell 1 exited" in cells.log()


def _cell_or_none(server: NimbusServer) -> int | None:
    try:
        return cell_pid(server)
    except (AssertionError, FileNotFoundError):
        return None


def test_sigterm_drains_invocations_in_the_cells(make_server: Any) -> None:
    server = make_server(args=("--cells", "2"))
    name = deploy(server)
    made = [Connection(server) for _ in range(8)]
    for connection in made:
        assert connection.invoke(name)[0] == 200  # warm, on whichever process
    with ThreadPoolExecutor(len(made)) as pool:
        running = [pool.submit(c.invoke, name, {"sleep": 1.5}) for c in made]
        time.sleep(0.5)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert all(f.result()[0] == 200 for f in running)
    server.process.wait(30)
    assert server.stopped_cleanly, server.log()
