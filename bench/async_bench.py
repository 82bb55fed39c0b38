"""Async invoke benchmark (issue 4): Nimbus `InvocationType=Event` next to Celery + Redis.

    .venv/bin/python bench/async_bench.py [--quick]

Nimbus: starts `nimbus server` (auth sigv4) on a free 127.0.0.1 port and creates two
Python functions (MemorySize 1769): a no-op, and one that prints `time.time()` first thing.

1. Accepts/second with durability: wrk replays ONE pre-signed asynchronous Invoke
   (`X-Amz-Invocation-Type: Event` is part of the signature) at 8 and 64 connections;
   every response must be 202 (counted in wrk's Lua). Each 202 means the event was
   committed to SQLite; the dispatcher runs the events meanwhile on the same 2 cores. After
   wrk stops, the rows left in `async_events` (read-only sqlite3) are the backlog, and the
   time until the table is empty is the drain time. `END RequestId` lines in the function's
   log files check that every accepted event ran.
2. 202 -> function start: sequential events spaced apart from a Python client
   (http.client, signed requests); latency = the time.time() the function prints minus the
   client's time.time() when the 202 arrived (same machine, same clock).

Celery (what a user would pick instead): a Redis broker (127.0.0.1:6379, db 15) and a
worker subprocess (`--concurrency 2 --pool prefork`), tasks in bench/celery_app.py:
(a) `noop.delay()` from 8 and 64 threads, (b) `delay()` returning -> task start, measured
the same way (the task RPUSHes its start time to Redis).

Prints a table and writes bench/results/async.json. Every server and worker is stopped at
the end; all traffic is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import celery
import redis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
import celery_app
from floors import summary
from http_bench import (
    SignedRequest,
    free_port,
    halt_polling,
    lambda_client,
    lua_string,
    newest_python_runtime,
    process_cpu_seconds,
    server,
    wrk_version,
)
from nimbus.services.accounts import load_credentials

HERE = Path(__file__).parent
REPO = HERE.parent
RESULTS = HERE / "results" / "async.json"
REGION = "us-east-1"
NOOP_FN = "bench-async-noop"
STAMP_FN = "bench-async-stamp"
NOOP = "def handler(e, c):\n    return None\n"
STAMP = (
    "import time\n\n\n"
    "def handler(e, c):\n"
    "    started = time.time()\n"
    "    print('BENCHSTART', e['i'], repr(started))\n"
)
STAMP_LINE = re.compile(r"BENCHSTART (-?\d+) ([0-9.e+-]+)")
CONCURRENCY = (8, 64)
GOAL_ACCEPTS = 5_000.0
GOAL_START_P50_MS = 5.0
DRAIN_TIMEOUT_S = 600.0
console = Console() if sys.stdout.isatty() else Console(width=150)

# wrk: count every response that is not a 202 (each thread has its own Lua state; done()
# collects them through setup()), and print one machine-readable line (times in µs).
WRK_LUA = r"""
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) not202 = 0 end
response = function(status, headers, body)
  if status ~= 202 then not202 = not202 + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("not202") end
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %.0f, \"duration_us\": %.0f, \"not_202\": %.0f, " ..
    "\"socket_errors\": %.0f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}\n",
    summary.requests, summary.duration, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass
class AcceptRun:
    """One load run: submissions accepted/s, then how long the backlog took to run."""

    concurrency: int
    accepted: int
    seconds: float
    per_s: float
    backlog_at_stop: int  # accepted but not yet run when the load stopped
    drain_s: float  # from the end of the load until nothing was left to run
    ran_during_load_per_s: float
    accept_p50_ms: float | None = None
    accept_p99_ms: float | None = None
    server_cpu_us_per_accept: float | None = None


# nimbus -------------------------------------------------------------------------------------
def sign(credentials: Credentials, port: int, function: str, body: bytes = b"{}") -> SignedRequest:
    """An asynchronous Invoke, signed now with the invocation-type header included."""
    path = f"/2015-03-31/functions/{function}/invocations"
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={"Host": f"127.0.0.1:{port}", "X-Amz-Invocation-Type": "Event"},
    )
    SigV4Auth(credentials, "lambda", REGION).add_auth(request)
    return SignedRequest("POST", path, {k: str(v) for k, v in request.headers.items()}, body)


def function_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("app.py", source)
    return buffer.getvalue()


def create_function(client: Any, runtime: str, name: str, source: str) -> None:
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="app.handler",
        Code={"ZipFile": function_zip(source)},
        MemorySize=1769,  # one full vCPU: the CPU quota must not be what we measure
        Timeout=30,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def backlog(db: Path) -> int:
    """Rows in async_events: accepted events not yet run (read-only access)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as c:
        return int(c.execute("SELECT count(*) FROM async_events").fetchone()[0])


def wait_until(done: Callable[[], bool], what: str, timeout: float = DRAIN_TIMEOUT_S) -> float:
    """Poll every 10 ms; seconds it took."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - start


def log_files(data: Path, function: str) -> list[Path]:
    return sorted(data.glob(f"logs/*{function}/*.log"))


def count_ends(data: Path, function: str) -> int:
    return sum(p.read_bytes().count(b"END RequestId") for p in log_files(data, function))


def stamps_in_logs(data: Path) -> dict[int, float]:
    found: dict[int, float] = {}
    for path in log_files(data, STAMP_FN):
        for m in STAMP_LINE.finditer(path.read_text(errors="replace")):
            found.setdefault(int(m.group(1)), float(m.group(2)))  # at least once: first run
    return found


def run_wrk(
    port: int, request: SignedRequest, connections: int, seconds: float, workdir: Path
) -> dict[str, float]:
    script = workdir / "event.lua"
    lines = [
        f"wrk.method = {lua_string(request.method)}",
        f"wrk.path = {lua_string(request.path)}",
        f"wrk.body = {lua_string(request.body.decode())}",
    ]
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in request.headers.items()]
    script.write_text("\n".join(lines) + "\n" + WRK_LUA)
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    argv += ["-s", str(script), f"http://127.0.0.1:{port}/"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw: dict[str, float] = json.loads(line.removeprefix("WRKJSON "))
    if raw["not_202"] or raw["socket_errors"] or "Non-2xx" in done.stdout:
        raise RuntimeError(f"wrk at {connections} connections: not all 202:\n{done.stdout}")
    return raw


def nimbus_accepts(
    port: int,
    pid: int,
    credentials: Credentials,
    db: Path,
    connections: int,
    seconds: float,
    warmup: float,
    workdir: Path,
) -> AcceptRun:
    # warm-up: scale-out of the function's environments happens here, then its backlog drains
    run_wrk(port, sign(credentials, port, NOOP_FN), connections, warmup, workdir)
    wait_until(lambda: backlog(db) == 0, "nimbus warm-up backlog")
    cpu = process_cpu_seconds(pid)
    raw = run_wrk(port, sign(credentials, port, NOOP_FN), connections, seconds, workdir)
    cpu = process_cpu_seconds(pid) - cpu
    left = backlog(db)
    drain = wait_until(lambda: backlog(db) == 0, f"nimbus backlog at {connections} connections")
    elapsed = raw["duration_us"] / 1e6
    accepted = int(raw["requests"])
    return AcceptRun(
        concurrency=connections,
        accepted=accepted,
        seconds=round(elapsed, 3),
        per_s=accepted / elapsed,
        backlog_at_stop=left,
        drain_s=round(drain, 3),
        ran_during_load_per_s=max(0, accepted - left) / elapsed,
        accept_p50_ms=raw["p50_us"] / 1000,
        accept_p99_ms=raw["p99_us"] / 1000,
        server_cpu_us_per_accept=cpu * 1e6 / max(accepted, 1),  # includes the dispatcher
    )


def nimbus_latency(
    port: int, credentials: Credentials, data: Path, n: int, gap: float, warm: int = 5
) -> list[float]:
    """ms from the 202 reaching the client to the function's first statement."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent: dict[int, float] = {}
    try:
        for i in range(-warm, n):  # negative: warm-up events, not measured
            request = sign(credentials, port, STAMP_FN, json.dumps({"i": i}).encode())
            conn.request(request.method, request.path, request.body, request.headers)
            response = conn.getresponse()
            at = time.time()
            body = response.read()
            if response.status != 202:
                raise RuntimeError(f"async Invoke: expected 202, got {response.status} {body!r}")
            sent[i] = at
            if i == -1:  # the environment is warm before the first measured event
                wait_until(lambda: -1 in stamps_in_logs(data), "nimbus warm-up events", 60)
            time.sleep(gap)
    finally:
        conn.close()
    wait_until(lambda: len(stamps_in_logs(data)) >= n + warm, "nimbus stamp events", 60)
    started = stamps_in_logs(data)
    return [(started[i] - sent[i]) * 1000 for i in range(n)]


def durability_floors(directory: Path, n: int = 500) -> dict[str, float]:
    """In the data dir's file system: write+fsync of 4 KiB, and single-row SQLite commits
    with Nimbus' settings (WAL, synchronous=NORMAL) from one thread, back to back."""
    path = directory / "floor.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    samples = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            samples.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    db = directory / "floor.db"
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("CREATE TABLE e (id TEXT PRIMARY KEY, payload TEXT, due REAL)")
        start = time.perf_counter()
        for i in range(n * 4):
            c.execute("BEGIN")
            c.execute("INSERT INTO e VALUES (?, ?, ?)", (str(i), "e30=", time.time()))
            c.execute("COMMIT")
        commits = n * 4 / (time.perf_counter() - start)
    for leftover in directory.glob("floor.db*"):
        leftover.unlink()
    return {"fsync_4k_p50_ms": summary(samples)["p50_ms"], "sqlite_commits_per_s": commits}


# celery -------------------------------------------------------------------------------------
def clear_redis(r: redis.Redis) -> None:
    """Only our keys, in our database (15): the queue, its bindings, stamps, counter."""
    keys = [*r.scan_iter(match="*nimbus-bench*"), *r.scan_iter(match="_kombu.*")]
    if keys:
        r.delete(*keys)


def celery_stamps(r: redis.Redis) -> dict[int, float]:
    found: dict[int, float] = {}
    for raw in r.lrange(celery_app.STAMPS, 0, -1):  # type: ignore[union-attr]
        i, t = raw.decode().split()
        found.setdefault(int(i), float(t))
    return found


@contextlib.contextmanager
def celery_worker(log_path: Path, r: redis.Redis) -> Iterator[subprocess.Popen[bytes]]:
    """`celery worker --concurrency 2 --pool prefork`, ready once it ran a task; stopped after."""
    argv = [str(Path(sys.executable).with_name("celery")), "-A", "bench.celery_app", "worker"]
    argv += ["--concurrency", "2", "--pool", "prefork", "-Q", celery_app.QUEUE]
    argv += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        celery_app.stamp.delay(-1000)
        wait_until(lambda: -1000 in celery_stamps(r), "celery worker start", 60)
        r.delete(celery_app.STAMPS)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the prefork children


def submit_for(threads: int, seconds: float) -> tuple[int, float]:
    """`noop.delay()` in a loop from `threads` threads for `seconds`; (count, elapsed)."""
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def loop(k: int) -> None:
        barrier.wait()
        while not stop.is_set():
            celery_app.noop.delay()
            counts[k] += 1

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.monotonic()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts), time.monotonic() - start


def celery_accepts(r: redis.Redis, threads: int, seconds: float, warmup: float) -> AcceptRun:
    def finished(total: int) -> Callable[[], bool]:
        return lambda: int(r.get(celery_app.DONE) or 0) >= total  # type: ignore[arg-type]

    r.set(celery_app.DONE, 0)
    total, _ = submit_for(threads, warmup)
    wait_until(finished(total), "celery warm-up backlog")
    r.set(celery_app.DONE, 0)
    total, elapsed = submit_for(threads, seconds)
    ran = int(r.get(celery_app.DONE) or 0)  # type: ignore[arg-type]
    drain = wait_until(finished(total), f"celery backlog at {threads} threads")
    return AcceptRun(
        concurrency=threads,
        accepted=total,
        seconds=round(elapsed, 3),
        per_s=total / elapsed,
        backlog_at_stop=total - ran,
        drain_s=round(drain, 3),
        ran_during_load_per_s=ran / elapsed,
    )


def celery_latency(r: redis.Redis, n: int, gap: float, warm: int = 5) -> list[float]:
    """ms from `stamp.delay()` returning to the task's first statement."""
    sent: dict[int, float] = {}
    for i in range(-warm, n):
        celery_app.stamp.delay(i)
        sent[i] = time.time()
        if i == -1:
            wait_until(lambda: -1 in celery_stamps(r), "celery warm-up tasks", 60)
        time.sleep(gap)
    wait_until(lambda: len(celery_stamps(r)) >= n + warm, "celery stamp tasks", 60)
    started = celery_stamps(r)
    return [(started[i] - sent[i]) * 1000 for i in range(n)]


def redis_settings(r: redis.Redis) -> dict[str, str]:
    info: dict[str, Any] = r.info("server")  # type: ignore[assignment]
    out = {"version": str(info.get("redis_version"))}
    for key in ("appendonly", "appendfsync", "save"):
        out.update({k: str(v) for k, v in r.config_get(key).items()})  # type: ignore[union-attr]
    return out


# the run ------------------------------------------------------------------------------------
def run(quick: bool) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    seconds, warmup, n_latency, gap = (2.0, 1.0, 30, 0.02) if quick else (8.0, 2.0, 200, 0.02)
    runtime = newest_python_runtime()
    r = redis.Redis.from_url(celery_app.BROKER)
    r.ping()
    workdir = Path(tempfile.mkdtemp(prefix="nimbus-async-bench-"))
    data = workdir / "data"
    db = data / "nimbus.db"
    port = free_port()
    results: dict[str, Any] = {
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "wrk": wrk_version(),
            "celery": celery.__version__,
            "halt_polling": halt_polling(),
            "redis": redis_settings(r),
            "root": os.geteuid() == 0,
            "loadavg_at_start": os.getloadavg()[0],
        },
        "settings": {
            "seconds_per_run": seconds,
            "warmup_seconds": warmup,
            "concurrency": list(CONCURRENCY),
            "latency_events": n_latency,
            "latency_gap_s": gap,
            "runtime": runtime,
            "memory_mb": 1769,
            "auth": "sigv4",
            "celery_worker": "--concurrency 2 --pool prefork, Redis broker, no result backend",
        },
    }
    results["floors"] = durability_floors(workdir)
    steps = 3 + 2 * (1 + len(CONCURRENCY))
    argv = [str(Path(sys.executable).with_name("nimbus")), "server", "--port", str(port)]
    argv += ["--gateway-port", "0", "--data-dir", str(data), "--auth", "sigv4"]
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("starting nimbus server (sigv4)", total=steps)
            with server("nimbus", argv, port, workdir / "nimbus.log") as process:
                # the port opens before the lifespan has written the credentials
                wait_until(lambda: load_credentials(data) is not None, "nimbus credentials", 60)
                found = load_credentials(data)
                assert found is not None
                credentials = Credentials(found.access_key_id, found.secret_access_key)
                progress.update(task, advance=1, description="creating the functions")
                client = lambda_client(port, credentials)
                create_function(client, runtime, NOOP_FN, NOOP)
                create_function(client, runtime, STAMP_FN, STAMP)
                progress.update(task, advance=1, description="nimbus: 202 -> function start")
                samples = nimbus_latency(port, credentials, data, n_latency, gap)
                nimbus: dict[str, Any] = {"start_latency": summary(samples), "accepts": {}}
                progress.update(task, advance=1)
                for c in CONCURRENCY:
                    progress.update(task, description=f"nimbus: accepts/s, {c} connections")
                    before = count_ends(data, NOOP_FN)
                    run_ = nimbus_accepts(
                        port, process.pid, credentials, db, c, seconds, warmup, workdir
                    )
                    ran = count_ends(data, NOOP_FN) - before  # warm-up + measured + in flight
                    if ran < run_.accepted:
                        raise RuntimeError(f"{run_.accepted} events accepted, {ran} ran")
                    nimbus["accepts"][str(c)] = {**asdict(run_), "events_run_incl_warmup": ran}
                    progress.update(task, advance=1)
            results["nimbus"] = nimbus

            progress.update(task, description="starting the celery worker")
            clear_redis(r)
            with celery_worker(workdir / "celery.log", r):
                progress.update(task, description="celery: delay() -> task start")
                samples = celery_latency(r, n_latency, gap)
                cel: dict[str, Any] = {"start_latency": summary(samples), "accepts": {}}
                progress.update(task, advance=1)
                for c in CONCURRENCY:
                    progress.update(task, description=f"celery: delay()/s, {c} threads")
                    cel["accepts"][str(c)] = asdict(celery_accepts(r, c, seconds, warmup))
                    progress.update(task, advance=1)
            results["celery"] = cel
    except Exception:
        for log in sorted(workdir.glob("*.log")):
            console.print(f"[red]{log.name}[/] (last lines):", markup=True)
            console.print(log.read_text(errors="replace")[-4000:], markup=False, highlight=False)
        raise
    finally:
        with contextlib.suppress(redis.RedisError):
            clear_redis(r)
        shutil.rmtree(workdir, ignore_errors=True)
    results["ratios"] = ratios(results)
    return results


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    n, c = results["nimbus"], results["celery"]
    accepts = {k: n["accepts"][k]["per_s"] / c["accepts"][k]["per_s"] for k in n["accepts"]}
    best = max(a["per_s"] for a in n["accepts"].values())
    p50 = n["start_latency"]["p50_ms"]
    return {
        "nimbus_over_celery_accepts_per_s": accepts,
        "nimbus_over_celery_start_p50": p50 / c["start_latency"]["p50_ms"],
        "nimbus_over_celery_start_p99": n["start_latency"]["p99_ms"] / c["start_latency"]["p99_ms"],
        "best_nimbus_accepts_per_s": best,
        "goals_met": {
            "accepts_ge_5000_per_s": best >= GOAL_ACCEPTS,
            "start_p50_le_5ms": p50 <= GOAL_START_P50_MS,
        },
    }


# report -------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]no[/]"


def show(results: dict[str, Any]) -> None:
    n, c, r, s = results["nimbus"], results["celery"], results["ratios"], results["settings"]
    redis_cfg = results["host"]["redis"]
    table = Table(
        title=(
            f"Async invoke: Nimbus (Event, durable) vs Celery + Redis — "
            f"{results['host']['cpus']} CPUs, {s['runtime']}, {s['memory_mb']} MB, "
            f"halt polling {results['host']['halt_polling']}, {s['seconds_per_run']:g} s/run"
        )
    )
    for column in ("measure", "nimbus", "celery + redis", "nimbus / celery", "goal", "met"):
        table.add_column(column)
    for k in n["accepts"]:
        a, b = n["accepts"][k], c["accepts"][k]
        ratio = r["nimbus_over_celery_accepts_per_s"][k]
        table.add_row(
            f"accepted/s, {k} conn / threads",
            f"{a['per_s']:,.0f}/s",
            f"{b['per_s']:,.0f}/s",
            f"{ratio:.2f}x",
            ">= 5,000/s",
            verdict(a["per_s"] >= GOAL_ACCEPTS),
        )
        table.add_row(
            f"  202 p50 / p99, {k} conn",
            f"{a['accept_p50_ms']:.2f} / {a['accept_p99_ms']:.2f} ms",
            "",
            "",
            "",
            "",
        )
        table.add_row(
            "  run while loading",
            f"{a['ran_during_load_per_s']:,.0f}/s",
            f"{b['ran_during_load_per_s']:,.0f}/s",
            "",
            "",
            "",
        )
        table.add_row(
            "  backlog at stop / drain time",
            f"{a['backlog_at_stop']:,} / {a['drain_s']:.2f} s",
            f"{b['backlog_at_stop']:,} / {b['drain_s']:.2f} s",
            "",
            "",
            "",
            end_section=True,
        )
    ln, lc = n["start_latency"], c["start_latency"]
    table.add_row(
        f"accept -> function start p50 / p99 (n={ln['n']})",
        f"{ln['p50_ms']:.2f} / {ln['p99_ms']:.2f} ms",
        f"{lc['p50_ms']:.2f} / {lc['p99_ms']:.2f} ms",
        f"{r['nimbus_over_celery_start_p50']:.2f}x / {r['nimbus_over_celery_start_p99']:.2f}x",
        "p50 <= 5 ms",
        verdict(ln["p50_ms"] <= GOAL_START_P50_MS),
    )
    f = results["floors"]
    table.add_row(
        "floors: SQLite commits/s (1 thread) / fsync 4 KiB",
        f"{f['sqlite_commits_per_s']:,.0f}/s / {f['fsync_4k_p50_ms']:.3f} ms",
        "",
        "",
        "",
        "",
    )
    console.print(table)
    console.print(
        "Notes: Nimbus answers 202 only after the event is committed to SQLite (WAL, "
        "synchronous=NORMAL, group commit): it survives a kill -9 of the server, but the WAL "
        "is fsynced at checkpoints, not per commit. Celery's delay() returns once Redis has "
        "the message in memory — this Redis has "
        f"appendonly={redis_cfg.get('appendonly')} save='{redis_cfg.get('save')}' "
        f"(appendfsync={redis_cfg.get('appendfsync')} if AOF were on): Celery + Redis acks are "
        "not fsync-durable, and with no persistence a Redis restart loses every queued task. "
        "Nimbus load: wrk, one pre-signed "
        "request (sigv4); Celery load: Python threads calling noop.delay(). Both run their "
        "events meanwhile on the same cores (Nimbus: dispatcher, up to 64 environments; "
        "Celery: 2 prefork processes; the Celery no-op INCRs a Redis counter to time the "
        "drain). Latency: client time.time() at the 202 / after delay() -> time.time() at "
        "the function's / task's first statement."
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    args = parser.parse_args()
    results = run(args.quick)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    show(results)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
