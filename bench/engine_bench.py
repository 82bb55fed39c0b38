"""Execution-engine benchmarks (issue 2): cold start, warm overhead, throughput, env creation.

Run as root for full isolation:  .venv/bin/python bench/engine_bench.py [--quick]
Prints a table and writes bench/results/engine.json. Each number is reported next to
the physical floor measured in the same run (fork+reply, Unix-socket round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from floors import fork_and_reply, summary, unix_round_trip
from nimbus.config import EngineConfig
from nimbus.engine.engine import Engine
from nimbus.models import FunctionSpec, Invocation
from nimbus.obs.logs import LogStore
from nimbus.obs.metering import MeteringLog

NOOP = "def handler(event, context):\n    return None\n"
RESULTS = Path(__file__).parent / "results" / "engine.json"


def make_spec(config: EngineConfig, name: str, runtime: str = "python3.12") -> FunctionSpec:
    code = config.code_dir / name
    code.mkdir(parents=True, exist_ok=True)
    (code / "app.py").write_text(NOOP)
    return FunctionSpec(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        runtime=runtime,
        handler="app.handler",
        code_dir=str(code),
        memory_mb=1769,  # one full vCPU: measure the engine, not the CPU quota
        revision=uuid.uuid4().hex,
    )


def make_ric_spec(config: EngineConfig) -> FunctionSpec | None:
    """The same no-op handler behind the official awslambdaric over the HTTP Runtime API."""
    site = next((Path(p) for p in sys.path if p.endswith("site-packages")), None)
    if (
        site is None
        or not (site / "awslambdaric").exists()
        or not Path("/usr/bin/python3.11").exists()
    ):
        return None
    spec = make_spec(config, "ric", runtime="provided.al2023")
    code = Path(spec.code_dir)
    for name in ("awslambdaric", "simplejson"):
        shutil.copytree(site / name, code / name, dirs_exist_ok=True)
    for path in [site / "snapshot_restore_py.py", *site.glob("runtime_client*.so")]:
        shutil.copy(path, code / path.name)
    bootstrap = code / "bootstrap"
    bootstrap.write_text('#!/bin/sh\nexec /usr/bin/python3.11 -m awslambdaric "$_HANDLER"\n')
    bootstrap.chmod(0o755)
    for path in code.rglob("*"):
        if path != bootstrap:
            path.chmod(0o755 if path.is_dir() else 0o644)
    return spec


def invocation() -> Invocation:
    return Invocation(request_id=str(uuid.uuid4()), payload=b"{}")


async def cold_starts(engine: Engine, spec: FunctionSpec, n: int) -> dict[str, float]:
    """Request to response with no idle environment: fork, sandbox, INIT, invoke."""
    samples = []
    for _ in range(n):
        await engine.retire(spec.arn)
        await asyncio.sleep(0.05)  # teardown done and the zygote's spare blank refilled
        t = time.perf_counter()
        result = await engine.invoke(spec, invocation())
        samples.append((time.perf_counter() - t) * 1000)
        assert result.record.cold and result.function_error is None
    return summary(samples)


async def warm_invokes(engine: Engine, spec: FunctionSpec, n: int) -> dict[str, float]:
    await engine.invoke(spec, invocation())
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await engine.invoke(spec, invocation())
        samples.append((time.perf_counter() - t) * 1000)
    return summary(samples)


async def throughput(engine: Engine, spec: FunctionSpec, callers: int, seconds: float) -> float:
    await engine.prewarm(spec, callers)
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await engine.invoke(spec, invocation())
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return done / (time.perf_counter() - start)


def private_mb(pid: int) -> float:
    """Private (unshared) memory of one process, from smaps_rollup."""
    total_kb = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total_kb += int(line.split()[1])
    return total_kb / 1024


async def environment_creation(engine: Engine, spec: FunctionSpec, count: int) -> dict[str, float]:
    t = time.perf_counter()
    ready = await engine.prewarm(spec, count)
    elapsed = time.perf_counter() - t
    pids = [env.pid for pool in engine._pools.values() for env in pool.idle]
    memory = sorted(private_mb(pid) for pid in pids)
    return {
        "environments": ready,
        "per_second": ready / elapsed,
        "private_mb_p50": memory[len(memory) // 2],
        "private_mb_max": memory[-1],
    }


async def run(quick: bool) -> dict[str, object]:
    n_cold, n_warm, secs, n_envs = (30, 300, 1.0, 50) if quick else (200, 3000, 3.0, 200)
    data = Path(tempfile.mkdtemp(prefix="nimbus-bench-"))
    config = EngineConfig(data_dir=data, keep_alive_s=3600)
    engine = Engine(config, LogStore(None), MeteringLog(None))
    await engine.start()
    results: dict[str, object] = {
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "isolation": engine.isolation.summary(),
            "root": os.geteuid() == 0,
        },
    }
    with Progress(transient=True) as progress:
        task = progress.add_task("floors", total=6)
        results["floor_fork_reply"] = fork_and_reply()
        results["floor_unix_rtt"] = unix_round_trip()
        progress.update(task, advance=1, description="cold starts")
        spec = make_spec(config, "noop")
        await engine.invoke(spec, invocation())  # start the zygote outside the measurement
        results["cold_start"] = await cold_starts(engine, spec, n_cold)
        progress.update(task, advance=1, description="warm invokes")
        results["warm_invoke"] = await warm_invokes(engine, spec, n_warm)
        ric = make_ric_spec(config)
        if ric is not None:
            results["warm_invoke_http_ric"] = await warm_invokes(engine, ric, n_warm // 3)
        progress.update(task, advance=1, description="throughput")
        results["throughput"] = {
            str(c): await throughput(engine, make_spec(config, f"tp{c}"), c, secs)
            for c in (1, 4, 16, 64)
        }
        progress.update(task, advance=1, description="environment creation")
        results["environments"] = await environment_creation(
            engine, make_spec(config, "many"), n_envs
        )
        progress.update(task, advance=1)
    await engine.close()
    shutil.rmtree(data, ignore_errors=True)
    return results


def show(results: dict[str, object]) -> None:
    r = results
    fork = r["floor_fork_reply"]["p50_ms"]  # type: ignore[index]
    rtt = r["floor_unix_rtt"]["p50_ms"]  # type: ignore[index]
    table = Table(title=f"Nimbus engine — {r['host']['isolation']}")  # type: ignore[index]
    for column in ("measure", "p50", "p99", "floor (p50)", "ratio to floor", "goal"):
        table.add_column(column)
    cold, warm = r["cold_start"], r["warm_invoke"]
    table.add_row(
        "cold start, no-op handler",
        f"{cold['p50_ms']:.2f} ms",  # type: ignore[index]
        f"{cold['p99_ms']:.2f} ms",
        f"fork+reply {fork:.2f} ms",  # type: ignore[index]
        f"{cold['p50_ms'] / fork:.1f}x",
        "p50 <= 5 ms",
    )  # type: ignore[index]
    table.add_row(
        "warm invoke overhead",
        f"{warm['p50_ms']:.3f} ms",  # type: ignore[index]
        f"{warm['p99_ms']:.3f} ms",
        f"unix RTT {rtt:.3f} ms",  # type: ignore[index]
        f"{warm['p50_ms'] / rtt:.1f}x",
        "p50 <= 0.2 ms",
    )  # type: ignore[index]
    if "warm_invoke_http_ric" in r:
        ric = r["warm_invoke_http_ric"]
        table.add_row(
            "warm invoke, awslambdaric over HTTP",
            f"{ric['p50_ms']:.3f} ms",  # type: ignore[index]
            f"{ric['p99_ms']:.3f} ms",
            f"unix RTT {rtt:.3f} ms",  # type: ignore[index]
            f"{ric['p50_ms'] / rtt:.1f}x",
            "channel must beat it",
        )  # type: ignore[index]
    for callers, rate in r["throughput"].items():  # type: ignore[attr-defined]
        table.add_row(
            f"warm invokes/s, {callers} callers",
            f"{rate:,.0f}/s",
            "",
            f"1/RTT {1000 / rtt:,.0f}/s",
            f"{rate / (1000 / rtt):.2f}x",
            "",
        )
    envs = r["environments"]
    table.add_row(
        "environments created/s",
        f"{envs['per_second']:.0f}/s",
        "",  # type: ignore[index]
        f"1/fork {1000 / fork:.0f}/s",
        f"{envs['per_second'] / (1000 / fork):.2f}x",
        ">= 200/s",
    )  # type: ignore[index]
    table.add_row(
        "private memory per idle env",
        f"{envs['private_mb_p50']:.1f} MB",  # type: ignore[index]
        f"max {envs['private_mb_max']:.1f} MB",
        "",
        "",
        "<= 10 MB",
    )  # type: ignore[index]
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    args = parser.parse_args()
    results = asyncio.run(run(args.quick))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    show(results)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
