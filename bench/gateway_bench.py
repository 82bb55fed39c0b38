"""HTTP gateway benchmark (issue 4): requests/s and p50/p99 through a route to a no-op
function, against a raw uvicorn hello-world ceiling in the same run (goal >= 25%).

    .venv/bin/python bench/gateway_bench.py [--quick]      (needs wrk; run as root)
Writes bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from botocore.credentials import Credentials
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from http_bench import (
    FUNCTION,
    HERE,
    SignedRequest,
    Target,
    create_function,
    free_port,
    halt_polling,
    lambda_client,
    median,
    newest_python_runtime,
    paired_runs,
    server,
)
from nimbus.client import Connection
from nimbus.services.accounts import load_credentials

RESULTS = HERE / "results" / "gateway.json"
CONCURRENCY = (1, 8, 64)


def run(quick: bool) -> dict[str, Any]:
    seconds, warmup, rounds = (2.0, 1.0, 1) if quick else (4.0, 3.0, 5)
    workdir = Path(tempfile.mkdtemp(prefix="nimbus-gateway-bench-"))
    data = workdir / "data"
    ceiling_port, api_port, gateway_port = free_port(), free_port(), free_port()
    nimbus_argv = [
        str(Path(sys.executable).with_name("nimbus")),
        "server",
        "--port",
        str(api_port),
        "--gateway-port",
        str(gateway_port),
        "--data-dir",
        str(data),
    ]
    ceiling_argv = [sys.executable, str(HERE / "ceiling_app.py"), "--port", str(ceiling_port)]
    request = SignedRequest("GET", "/noop", {}, b"")
    results: dict[str, Any] = {"ceiling": {}, "gateway": {}, "halt_polling": halt_polling()}
    with contextlib.ExitStack() as stack:
        ceiling = stack.enter_context(
            server("ceiling", ceiling_argv, ceiling_port, workdir / "ceiling.log")
        )
        nimbus = stack.enter_context(
            server("nimbus", nimbus_argv, api_port, workdir / "nimbus.log")
        )
        found = load_credentials(data)
        assert found is not None
        credentials = Credentials(found.access_key_id, found.secret_access_key)
        create_function(lambda_client(api_port, credentials), newest_python_runtime())
        Connection(
            f"http://127.0.0.1:{api_port}", found.access_key_id, found.secret_access_key
        ).nimbus("AddRoute", {"RouteKey": "GET /noop", "FunctionName": FUNCTION})
        targets = [
            Target("ceiling", ceiling_port, ceiling, lambda _: request),
            Target("gateway", gateway_port, nimbus, lambda _: request),
        ]
        for connections in CONCURRENCY:
            paired = paired_runs(targets, connections, seconds, warmup, rounds, workdir)
            for name, result in paired.items():
                results[name][str(connections)] = result
        results["rounds"] = rounds
    return results


def show(results: dict[str, Any]) -> None:
    table = Table(
        title="Nimbus HTTP gateway (route -> no-op function) vs raw uvicorn, median of "
        f"{results.get('rounds', 1)} paired rounds, halt polling {results.get('halt_polling')}"
    )
    for column in (
        "connections",
        "ceiling req/s",
        "gateway req/s",
        "% of ceiling",
        "ceiling p50/p99",
        "gateway p50/p99",
        "goal",
    ):
        table.add_column(column)
    for connections in CONCURRENCY:
        c, g = results["ceiling"][str(connections)], results["gateway"][str(connections)]
        table.add_row(
            str(connections),
            f"{c['rps']:,.0f}",
            f"{g['rps']:,.0f}",
            f"{100 * median(g['ratio_rounds']):.1f}%",
            f"{c['p50_ms']:.3f} / {c['p99_ms']:.3f} ms",
            f"{g['p50_ms']:.3f} / {g['p99_ms']:.3f} ms",
            ">= 25%",
        )
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    results = run(parser.parse_args().quick)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    show(results)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
