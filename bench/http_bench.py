"""HTTP benchmark (issue 3): `nimbus server` next to the raw-uvicorn ceiling, in one run.

    .venv/bin/python bench/http_bench.py [--quick] [--profile]

Starts two servers on free 127.0.0.1 ports: the ceiling (bench/ceiling_app.py, a raw ASGI
hello world answering `200 {}` under the same uvicorn settings as Nimbus) and `nimbus
server` (default `--auth sigv4`, so every request pays signature verification). Creates a
no-op Python function with boto3, then replays ONE pre-signed Invoke request with wrk at
1, 8 and 64 connections against both (re-signed before every wrk run; SigV4 allows 5
minutes of skew) and times cold-start Invokes over HTTP (UpdateFunctionConfiguration
retires the warm environments; the update is not timed). Prints a table and writes
bench/results/http.json. Needs wrk (`apt-get install -y wrk`); `--profile` also samples
the Nimbus server with py-spy under load and names its hottest functions.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from floors import summary
from nimbus.engine.runtimes import RuntimeRegistry
from nimbus.sandbox.placement import DEFAULT_MODE
from nimbus.sandbox.tuning import HALT_POLL_NS
from nimbus.services.accounts import load_credentials

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "http.json"
REGION = "us-east-1"
FUNCTION = "bench-noop"
NOOP = "def handler(e, c):\n    return None\n"
BODY = b"{}"
CONCURRENCY = (1, 8, 64)
GOAL_ADDED_P50_MS = 0.3
GOAL_RPS_PCT = 25.0
GOAL_RPS = 10_000.0
GOAL_COLD_P50_MS = 10.0
console = Console() if sys.stdout.isatty() else Console(width=150)

# wrk prints its own report; done() adds one machine-readable line (LuaJIT, times in µs).
WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %.0f, \"duration_us\": %.0f, \"non_2xx_3xx\": %.0f, " ..
    "\"connect_errors\": %.0f, \"read_errors\": %.0f, \"write_errors\": %.0f, " ..
    "\"timeouts\": %.0f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, " ..
    "\"max_us\": %.1f, \"mean_us\": %.2f}\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass
class WrkResult:
    connections: int
    threads: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non_2xx_3xx: int
    socket_errors: int
    server_cpu_us_per_request: float = 0.0  # user+system time of the server process


@dataclass
class SignedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# servers ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(pid: int) -> float:
    """A server's CPU time: its process and its invoke cells (`--cells`), not environments."""
    total = process_cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if b"nimbus.cells.cell" in Path(f"/proc/{child}/cmdline").read_bytes():
                    total += process_cpu_seconds(int(child))
    return total


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with status {process.returncode}")
        # An HTTP answer, not just a connect: the socket listens before the app has started.
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/")
            connection.getresponse().read()
            connection.close()
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


@contextlib.contextmanager
def server(
    name: str, argv: list[str], port: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run one server in its own session; always stopped (SIGTERM, then SIGKILL its group)."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    try:
        try:
            wait_for_port(port, process)
        except RuntimeError as e:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name}: {e}\n{tail}") from e
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # uvicorn: graceful; Nimbus drains its engine
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # anything it left behind in its session


# requests -----------------------------------------------------------------------------------
def sign_invoke(
    credentials: Credentials, port: int, extra: dict[str, str] | None = None
) -> SignedRequest:
    """One Invoke request, signed now (SigV4, lambda, us-east-1): replayable for 5 minutes."""
    path = f"/2015-03-31/functions/{FUNCTION}/invocations"
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}{path}",
        data=BODY,
        headers={"Host": f"127.0.0.1:{port}", **(extra or {})},
    )
    SigV4Auth(credentials, "lambda", REGION).add_auth(request)
    return SignedRequest("POST", path, {k: str(v) for k, v in request.headers.items()}, BODY)


def send(port: int, request: SignedRequest) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(request.method, request.path, request.body, request.headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def check_response(target: str, status: int, headers: dict[str, str], body: bytes) -> None:
    if status != 200 or "x-amz-function-error" in headers:
        raise RuntimeError(
            f"{target}: expected 200 without a function error, got {status} {body!r}"
        )


# wrk ----------------------------------------------------------------------------------------
def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrk_script(request: SignedRequest) -> str:
    lines = [
        f"wrk.method = {lua_string(request.method)}",
        f"wrk.path = {lua_string(request.path)}",
        f"wrk.body = {lua_string(request.body.decode())}",
    ]
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in request.headers.items()]
    return "\n".join(lines) + "\n" + WRK_DONE


def run_wrk(
    port: int,
    request: SignedRequest,
    connections: int,
    seconds: float,
    workdir: Path,
    server_pid: int | None = None,
) -> WrkResult:
    script = workdir / "invoke.lua"
    script.write_text(wrk_script(request))
    threads = 1 if connections == 1 else 2
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    argv += ["--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}/"]
    cpu = server_cpu_seconds(server_pid) if server_pid else 0.0
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    cpu = server_cpu_seconds(server_pid) - cpu if server_pid else 0.0
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw: dict[str, float] = json.loads(line.removeprefix("WRKJSON "))
    if "Non-2xx or 3xx responses" in done.stdout:  # wrk's own report agrees with done()
        raw["non_2xx_3xx"] = max(raw["non_2xx_3xx"], 1)
    elapsed = raw["duration_us"] / 1e6
    return WrkResult(
        connections=connections,
        threads=threads,
        requests=int(raw["requests"]),
        seconds=round(elapsed, 3),
        rps=raw["requests"] / elapsed,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        non_2xx_3xx=int(raw["non_2xx_3xx"]),
        socket_errors=int(
            raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
        ),
        server_cpu_us_per_request=cpu * 1e6 / max(raw["requests"], 1),
    )


def halt_polling() -> str:
    """The guest's halt polling (see README, performance tuning): it changes the cost of
    every cross-CPU wake-up on a KVM guest, so results from different settings differ."""
    try:
        ns = int((Path("/sys") / HALT_POLL_NS).read_text())
    except (OSError, ValueError):
        return "n/a"
    return f"{ns} ns" if ns else "off"


def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (done.stdout + done.stderr).splitlines()[0].strip()


# nimbus -------------------------------------------------------------------------------------
def newest_python_runtime() -> str:
    installed = [r for r, path in RuntimeRegistry().available().items() if path]
    pythons = [r for r in installed if r.startswith("python")]
    if not pythons:
        raise RuntimeError("no Python runtime is installed (see `nimbus doctor`)")
    return max(pythons, key=lambda r: tuple(int(x) for x in r.removeprefix("python").split(".")))


def noop_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("app.py", NOOP)
    return buffer.getvalue()


def lambda_client(port: int, credentials: Credentials) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=REGION,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=Config(retries={"max_attempts": 1}),
    )


def create_function(client: Any, runtime: str) -> None:
    client.create_function(
        FunctionName=FUNCTION,
        Runtime=runtime,
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="app.handler",
        Code={"ZipFile": noop_zip()},
        MemorySize=1769,  # one full vCPU: the CPU quota must not be what we measure
        Timeout=30,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)


def cold_start(client: Any, port: int, credentials: Credentials, i: int) -> tuple[float, float]:
    """Request-to-response of one Invoke with no warm environment; (ms, Init Duration ms)."""
    client.update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": {"BENCH_SAMPLE": str(i)}}
    )
    client.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
    time.sleep(0.2)  # not back-to-back with the old environments' teardown
    request = sign_invoke(credentials, port, {"X-Amz-Log-Type": "Tail"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.connect()
        t = time.perf_counter()
        conn.request(request.method, request.path, request.body, request.headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - t) * 1000
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    check_response("nimbus cold start", response.status, headers, body)
    tail = base64.b64decode(headers.get("x-amz-log-result", "")).decode(errors="replace")
    init = re.search(r"Init Duration: ([\d.]+) ms", tail)
    if init is None:
        raise RuntimeError(f"the invoke after an update was not a cold start:\n{tail}")
    return elapsed, float(init.group(1))


# paired rounds --------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    request: Any  # port -> SignedRequest (signed afresh for each run)


def paired_runs(
    targets: list[Target],
    connections: int,
    seconds: float,
    warmup: float,
    rounds: int,
    workdir: Path,
) -> dict[str, dict[str, Any]]:
    """Each target's median run of `rounds`, the targets taking turns (first one, then the
    other first): these machines drift by tens of percent within a minute, so a ratio is
    taken within each round, and its median reported (`ratio_rounds` on the last target).

    Returns {name: the median-rps run as a dict, plus "rps_rounds" / "p50_rounds"}."""
    runs: dict[str, list[WrkResult]] = {t.name: [] for t in targets}
    for t in targets:  # warm-up (scale-out to `connections` environments happens here)
        run_wrk(t.port, t.request(t.port), connections, warmup, workdir)
    for r in range(rounds):
        for t in targets if r % 2 == 0 else targets[::-1]:
            try:
                result = run_wrk(
                    t.port, t.request(t.port), connections, seconds, workdir, t.process.pid
                )
            except RuntimeError as e:
                if t.process.poll() is not None:
                    e.add_note(f"{t.name} server exited with status {t.process.returncode}")
                raise
            if result.non_2xx_3xx or result.socket_errors:
                raise RuntimeError(f"{t.name} at {connections} connections: {result}")
            runs[t.name].append(result)
    out: dict[str, dict[str, Any]] = {}
    for name, results in runs.items():
        median = sorted(results, key=lambda x: x.rps)[len(results) // 2]
        out[name] = {
            **asdict(median),
            "rps_rounds": [round(x.rps) for x in results],
            "p50_rounds": [x.p50_ms for x in results],
        }
    base, last = targets[0].name, targets[-1].name
    out[last]["ratio_rounds"] = [b.rps / a.rps for a, b in zip(runs[base], runs[last], strict=True)]
    out[last]["added_p50_rounds"] = [
        b.p50_ms - a.p50_ms for a, b in zip(runs[base], runs[last], strict=True)
    ]
    return out


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# profile ------------------------------------------------------------------------------------
# Frames every event-loop sample shares (entry point, CLI, uvicorn's runner): not informative.
ENTRY_FRAMES = re.compile(
    r"^<module>|\((typer|click|asyncio/runners|uvicorn/server|uvicorn/_compat|nimbus/cli|"
    r"nimbus/server)[^)]*\)$"
)


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def profile_server(
    pid: int,
    port: int,
    credentials: Credentials,
    connections: int,
    seconds: float,
    workdir: Path,
) -> dict[str, Any]:
    """Sample the server's event-loop thread with py-spy while wrk loads it.

    Only samples where the main thread holds the GIL (`--gil`): where its CPU goes. Self =
    the innermost Python frame (C calls and syscalls count toward their Python caller).
    """
    binary = py_spy()
    if binary is None:
        return {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
    out, rate, duration = workdir / "profile.txt", 500, max(2, int(seconds))
    argv = [binary, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    argv += ["--rate", str(rate), "--duration", str(duration), "--threads", "--gil"]
    argv += ["--nonblocking"]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)  # py-spy attached
        load = run_wrk(port, sign_invoke(credentials, port), connections, duration, workdir, pid)
        _, err = spy.communicate(timeout=60)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if not out.exists():
        return {"error": f"py-spy failed: {err.decode(errors='replace')[-500:]}"}
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        sample = re.fullmatch(r"(.*) (\d+)", line)
        frames = sample.group(1).split(";") if sample else [""]
        if sample is None or not frames[0].startswith("thread ") or "MainThread" not in frames[0]:
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in frames[1:]]
        frames = [f for f in frames if not ENTRY_FRAMES.search(f)]
        n = int(sample.group(2))
        total += n
        own[frames[-1] if frames else "(event loop: uvloop, httptools, callbacks)"] += n
        for frame in set(frames):
            inclusive[frame] += n

    def top(counter: Counter[str], n: int) -> list[dict[str, Any]]:
        return [
            {"function": f, "pct": round(100 * c / max(total, 1), 1)}
            for f, c in counter.most_common(n)
        ]

    return {
        "connections": connections,
        "rps_while_sampled": round(load.rps),
        "server_cpu_us_per_request": round(load.server_cpu_us_per_request),
        "main_thread_gil_samples": total,
        "main_thread_gil_pct_of_wall": round(100 * total / (rate * duration), 1),
        "self": top(own, 20),
        "inclusive": top(inclusive, 30),
    }


# the run ------------------------------------------------------------------------------------
def run(quick: bool, profile: bool, cells: str = "0") -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    seconds, warmup, n_cold, rounds = (2.0, 1.0, 5, 1) if quick else (4.0, 3.0, 30, 5)
    runtime = newest_python_runtime()
    workdir = Path(tempfile.mkdtemp(prefix="nimbus-http-bench-"))
    data = workdir / "data"
    ceiling_port, nimbus_port = free_port(), free_port()
    results: dict[str, Any] = {
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "wrk": wrk_version(),
            "halt_polling": halt_polling(),
            "root": os.geteuid() == 0,
            "loadavg_at_start": os.getloadavg()[0],  # other work on the machine skews numbers
        },
        "settings": {
            "seconds_per_run": seconds,
            "rounds": rounds,
            "warmup_seconds": warmup,
            "connections": list(CONCURRENCY),
            "runtime": runtime,
            "memory_mb": 1769,
            "auth": "sigv4",
            "cells": cells,
            "cpu_placement": os.environ.get("NIMBUS_CPU_PLACEMENT", DEFAULT_MODE),
        },
    }
    steps = 3 + 2 * len(CONCURRENCY) + n_cold + (1 if profile else 0)
    nimbus_argv = [str(Path(sys.executable).with_name("nimbus")), "server"]
    nimbus_argv += ["--port", str(nimbus_port), "--data-dir", str(data), "--auth", "sigv4"]
    nimbus_argv += ["--cells", cells]
    ceiling_argv = [sys.executable, str(HERE / "ceiling_app.py"), "--port", str(ceiling_port)]
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with (
            Progress(*columns, console=console, transient=True) as progress,
            contextlib.ExitStack() as stack,
        ):
            task = progress.add_task("starting the ceiling (raw uvicorn)", total=steps)
            ceiling = stack.enter_context(
                server("ceiling", ceiling_argv, ceiling_port, workdir / "ceiling.log")
            )
            progress.update(task, advance=1, description="starting nimbus server (sigv4)")
            nimbus = stack.enter_context(
                server("nimbus", nimbus_argv, nimbus_port, workdir / "nimbus.log")
            )
            found = load_credentials(data)
            if found is None:
                raise RuntimeError("nimbus server wrote no credentials")
            credentials = Credentials(found.access_key_id, found.secret_access_key)
            progress.update(task, advance=1, description=f"creating a no-op {runtime} function")
            client = lambda_client(nimbus_port, credentials)
            create_function(client, runtime)
            for _ in range(3):
                check_response("nimbus", *send(nimbus_port, sign_invoke(credentials, nimbus_port)))
            check_response("ceiling", *send(ceiling_port, sign_invoke(credentials, ceiling_port)))
            progress.update(task, advance=1)

            warm: dict[str, dict[str, dict[str, Any]]] = {"ceiling": {}, "nimbus": {}}
            for connections in CONCURRENCY:
                progress.update(task, description=f"warm Invoke, {connections} connection(s)")
                targets = [
                    Target("ceiling", ceiling_port, ceiling, lambda p: sign_invoke(credentials, p)),
                    Target("nimbus", nimbus_port, nimbus, lambda p: sign_invoke(credentials, p)),
                ]
                paired = paired_runs(targets, connections, seconds, warmup, rounds, workdir)
                for name, result in paired.items():
                    warm[name][str(connections)] = result
                progress.update(task, advance=2)
            results["warm"] = warm

            if profile:
                progress.update(task, description="profiling nimbus server with py-spy")
                results["profile"] = profile_server(
                    nimbus.pid, nimbus_port, credentials, 64, seconds, workdir
                )
                progress.update(task, advance=1)

            samples, inits = [], []
            for i in range(n_cold):
                progress.update(task, description=f"cold-start Invoke {i + 1}/{n_cold}")
                elapsed, init = cold_start(client, nimbus_port, credentials, i)
                samples.append(elapsed)
                inits.append(init)
                progress.update(task, advance=1)
            results["cold_start"] = {**summary(samples), "init_duration": summary(inits)}
    except Exception:
        for log in sorted(workdir.glob("*.log")):  # the servers' own account of the failure
            console.print(f"[red]{log.name}[/] (last lines):", markup=True)
            console.print(log.read_text(errors="replace")[-4000:], markup=False, highlight=False)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["ratios"] = ratios(results)
    return results


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    nimbus = results["warm"]["nimbus"]
    # Medians of the per-round differences and ratios (paired_runs).
    added = median(nimbus["1"]["added_p50_rounds"])
    pct = {c: 100 * median(nimbus[c]["ratio_rounds"]) for c in nimbus}
    best = max(r["rps"] for r in nimbus.values())
    cold = results["cold_start"]["p50_ms"]
    return {
        "added_p50_ms_1_connection": added,
        "added_p50_ms": {c: median(nimbus[c]["added_p50_rounds"]) for c in nimbus},
        "rps_pct_of_ceiling": pct,
        "best_nimbus_rps": best,
        "cold_start_p50_ms": cold,
        "goals_met": {
            "added_p50_le_0.3ms": added <= GOAL_ADDED_P50_MS,
            "rps_ge_25pct_at_every_concurrency": all(p >= GOAL_RPS_PCT for p in pct.values()),
            "rps_ge_10000": best >= GOAL_RPS,
            "cold_start_p50_le_10ms": cold <= GOAL_COLD_P50_MS,
        },
    }


# report -------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]no[/]"


def show(results: dict[str, Any]) -> None:
    ceiling, nimbus = results["warm"]["ceiling"], results["warm"]["nimbus"]
    r, s = results["ratios"], results["settings"]
    table = Table(
        title=(
            f"Nimbus HTTP Invoke vs raw uvicorn — {results['host']['cpus']} CPUs, "
            f"{s['runtime']}, {s['memory_mb']} MB, auth {s['auth']}, "
            f"halt polling {results['host']['halt_polling']}, "
            f"--cells {s.get('cells', '0')}, placement {s.get('cpu_placement', 'spread')}, "
            f"median of {s['rounds']} paired rounds of {s['seconds_per_run']:g} s"
        )
    )
    for column in ("measure", "ceiling", "nimbus", "nimbus vs ceiling", "goal", "met"):
        table.add_column(column)
    for c in ceiling:
        a, b = ceiling[c], nimbus[c]
        added = r["added_p50_ms"][c]
        goal, met = ("<= +0.3 ms", verdict(added <= GOAL_ADDED_P50_MS)) if c == "1" else ("", "")
        table.add_row(
            f"warm Invoke p50 / p99, {c} conn",
            f"{a['p50_ms']:.3f} / {a['p99_ms']:.3f} ms",
            f"{b['p50_ms']:.3f} / {b['p99_ms']:.3f} ms",
            f"+{added:.3f} ms p50",
            goal,
            met,
        )
        pct = r["rps_pct_of_ceiling"][c]
        table.add_row(
            f"warm Invokes/s, {c} conn",
            f"{a['rps']:,.0f}/s",
            f"{b['rps']:,.0f}/s",
            f"{pct:.1f}%",
            ">= 25%",
            verdict(pct >= GOAL_RPS_PCT),
        )
        cpu_a, cpu_b = a["server_cpu_us_per_request"], b["server_cpu_us_per_request"]
        table.add_row(
            f"server CPU per request, {c} conn",
            f"{cpu_a:,.0f} µs",
            f"{cpu_b:,.0f} µs",
            f"{cpu_b / max(cpu_a, 1e-9):.1f}x",
            "",
            "",
            end_section=True,
        )
    table.add_row(
        "best Nimbus Invokes/s",
        "",
        f"{r['best_nimbus_rps']:,.0f}/s",
        "",
        ">= 10,000/s",
        verdict(r["best_nimbus_rps"] >= GOAL_RPS),
    )
    cold = results["cold_start"]
    table.add_row(
        "cold-start Invoke p50 / p99",
        "",
        f"{cold['p50_ms']:.2f} / {cold['p99_ms']:.2f} ms",
        f"Init Duration p50 {cold['init_duration']['p50_ms']:.2f} ms (n={cold['n']})",
        "p50 <= 10 ms",
        verdict(cold["p50_ms"] <= GOAL_COLD_P50_MS),
    )
    console.print(table)
    profile = results.get("profile")
    if profile and "self" in profile:
        top = Table(
            title=(
                f"Nimbus event loop under {profile['connections']} connections (py-spy --gil: "
                f"GIL held {profile['main_thread_gil_pct_of_wall']:.0f}% of the time, "
                f"{profile['rps_while_sampled']:,}/s, "
                f"{profile['server_cpu_us_per_request']} µs CPU/request)"
            )
        )
        for column in ("hottest (self)", "%", "hottest (inclusive)", "%"):
            top.add_column(column)
        for i in range(15):
            own = profile["self"][i] if i < len(profile["self"]) else None
            incl = profile["inclusive"][i] if i < len(profile["inclusive"]) else None
            top.add_row(
                own["function"] if own else "",
                f"{own['pct']:.1f}" if own else "",
                incl["function"] if incl else "",
                f"{incl['pct']:.1f}" if incl else "",
            )
        console.print(top)
    elif profile:
        console.print(f"[yellow]profile: {profile['error']}[/]")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--profile", action="store_true", help="py-spy the server under load")
    parser.add_argument("--cells", default="0", help="nimbus server --cells (README: cells)")
    args = parser.parse_args()
    results = run(args.quick, args.profile, args.cells)
    out = RESULTS if args.cells == "0" else RESULTS.with_name(f"http-cells-{args.cells}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    show(results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
