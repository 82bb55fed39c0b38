"""The `nimbus` command line."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Nimbus: AWS Lambda on your own machines."
)
console = Console()


@app.callback()
def _root() -> None:
    """Nimbus: AWS Lambda on your own machines."""


@app.command()
def doctor() -> None:
    """Show which isolation features are active on this host, and which runtimes are installed."""
    from nimbus.config import EngineConfig
    from nimbus.engine.engine import Engine
    from nimbus.engine.runtimes import RuntimeRegistry
    from nimbus.obs.logs import LogStore
    from nimbus.obs.metering import MeteringLog

    async def probe() -> Engine:
        with tempfile.TemporaryDirectory() as tmp:
            engine = Engine(EngineConfig(data_dir=Path(tmp)), LogStore(None), MeteringLog(None))
            await engine.start()
            await engine.close()
            return engine

    engine = asyncio.run(probe())
    report = engine.isolation
    table = Table(title="Isolation", show_header=True)
    table.add_column("feature")
    table.add_column("status")
    for name, active in (
        ("mount/pid/ipc/uts namespaces, private /tmp, read-only code", report.namespaces),
        ("cgroups (memory, CPU, pids)", report.cgroups is not None),
        ("seccomp filter", report.seccomp),
        ("own unprivileged uid per environment", report.uid_switch),
        ("Landlock scopes (abstract sockets, signals)", report.landlock),
    ):
        status = "[green]active[/]" if active else "[red]missing[/]"
        if name.startswith("cgroups") and report.cgroups:
            status += f" ({report.cgroups})"
        table.add_row(name, status)
    console.print(table)
    for reason in report.missing:
        console.print(f"[yellow]![/] {reason}")
    runtimes = Table(title="Runtimes", show_header=True)
    runtimes.add_column("runtime")
    runtimes.add_column("interpreter")
    for runtime, path in RuntimeRegistry().available().items():
        runtimes.add_row(runtime, path or "[red]not installed[/] (see NIMBUS_RUNTIME_* in README)")
    console.print(runtimes)
    if os.geteuid() != 0:
        console.print("Run as root (sudo) for full isolation.")


def main() -> None:
    app()
