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
errors = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Nimbus: AWS Lambda on your own machines."""


DATA_DIR = typer.Option(
    Path(os.environ.get("NIMBUS_DATA_DIR", "~/.nimbus")), "--data-dir", help="Nimbus' state."
)


@app.command()
def server(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8900, help="Port of the AWS-compatible endpoint."),
    gateway_port: int = typer.Option(8901, help="Port of the HTTP gateway (0: none)."),
    data_dir: Path = DATA_DIR,
    auth: str = typer.Option(
        "sigv4", help="sigv4 (verify signatures) or open (any key; loopback only)."
    ),
    cells: str = typer.Option(
        os.environ.get("NIMBUS_CELLS", "0"),
        "--cells",
        help="Invoke cells beside the main process, one CPU each: a number or auto (README).",
    ),
    account_id: str | None = typer.Option(
        os.environ.get("NIMBUS_ACCOUNT_ID"),
        "--account-id",
        help="12-digit id of the root account, created on first start (default 000000000000).",
    ),
) -> None:
    """Serve every AWS-compatible API on one port, with the embedded store."""
    from nimbus.server import serve

    if auth not in ("sigv4", "open"):
        raise typer.BadParameter("--auth must be sigv4 or open")
    if account_id is not None and not (len(account_id) == 12 and account_id.isdigit()):
        raise typer.BadParameter("--account-id takes 12 digits, e.g. 123456789012")
    serve(host, port, data_dir, auth, gateway_port, account_id, cells)


@app.command()
def env(data_dir: Path = DATA_DIR) -> None:
    """Print the exports that point boto3 and the AWS CLI at this Nimbus."""
    from nimbus.services.accounts import load_credentials

    data_dir = data_dir.expanduser()
    credentials = load_credentials(data_dir)
    endpoint_file = data_dir / "endpoint"
    if credentials is None or not endpoint_file.exists():
        errors.print(
            f"[red]No Nimbus server has run with data dir {data_dir}.[/] "
            "Start one with `nimbus server` first."
        )
        raise typer.Exit(1)
    print(f"export AWS_ENDPOINT_URL={endpoint_file.read_text().strip()}")
    print(f"export AWS_ACCESS_KEY_ID={credentials.access_key_id}")
    print(f"export AWS_SECRET_ACCESS_KEY={credentials.secret_access_key}")
    print("export AWS_DEFAULT_REGION=us-east-1")


ENDPOINT = typer.Option(
    None,
    "--endpoint-url",
    help="Nimbus endpoint (default: $AWS_ENDPOINT_URL or the local server's).",
)


@app.command()
def deploy(
    directory: Path = typer.Argument(..., exists=True, file_okay=False, help="Code directory."),
    name: str = typer.Option(..., "--name", help="Function name."),
    handler: str = typer.Option("app.handler", help="module.function"),
    runtime: str = typer.Option("python3.12", help="python3.9 ... python3.13, provided.al2023"),
    memory: int | None = typer.Option(None, help="MemorySize in MB."),
    timeout: int | None = typer.Option(None, help="Timeout in seconds."),
    env: list[str] = typer.Option([], "--env", help="K=V environment variable (repeatable)."),
    data_dir: Path = DATA_DIR,
    endpoint_url: str | None = ENDPOINT,
) -> None:
    """Zip DIRECTORY and create or update the function."""
    from botocore.exceptions import ClientError

    from nimbus import cli_functions as f

    if any("=" not in item for item in env):
        raise typer.BadParameter("--env takes K=V")
    try:
        config = f.deploy(
            f.connect(data_dir, endpoint_url),
            directory,
            name,
            handler,
            runtime,
            memory,
            timeout,
            env,
        )
    except ClientError as e:
        raise f.fail(e) from None
    console.print(
        f"[green]deployed[/] {config['FunctionArn']} ({config['Runtime']}, "
        f"{config['MemorySize']} MB, {config['CodeSize']:,} bytes, {config['State']})"
    )


@app.command()
def invoke(
    name: str,
    payload: str | None = typer.Option(None, help="JSON text, or @file."),
    tail: bool = typer.Option(False, "--tail", help="Print the last 4 KB of the log."),
    data_dir: Path = DATA_DIR,
    endpoint_url: str | None = ENDPOINT,
) -> None:
    """Invoke a function synchronously and print its response."""
    from botocore.exceptions import ClientError

    from nimbus import cli_functions as f

    try:
        code = f.invoke(f.connect(data_dir, endpoint_url), name, f.read_payload(payload), tail)
    except ClientError as e:
        raise f.fail(e) from None
    raise typer.Exit(code)


@app.command("ls")
def list_functions(data_dir: Path = DATA_DIR, endpoint_url: str | None = ENDPOINT) -> None:
    """List functions."""
    from botocore.exceptions import ClientError

    from nimbus import cli_functions as f

    try:
        f.list_functions(f.connect(data_dir, endpoint_url))
    except ClientError as e:
        raise f.fail(e) from None


@app.command()
def logs(
    name: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    since: str = typer.Option("1h", help="How far back: 30s, 10m, 2h, 7d or epoch seconds."),
    data_dir: Path = DATA_DIR,
    endpoint_url: str | None = ENDPOINT,
) -> None:
    """Print a function's log lines (CloudWatch Logs API)."""
    from botocore.exceptions import ClientError

    from nimbus import cli_functions as f

    try:
        f.logs(f.connect(data_dir, endpoint_url), name, f.parse_since(since), follow)
    except ClientError as e:
        raise f.fail(e) from None
    except KeyboardInterrupt:
        pass


@app.command()
def usage(
    since: str = typer.Option("30d", help="30s, 10m, 2h, 7d or epoch seconds."),
    per_million: float | None = typer.Option(
        None,
        "--price-per-million-requests",
        min=0,
        help="USD per million requests (default: the server's, AWS x86: 0.20).",
    ),
    per_gb_second: float | None = typer.Option(
        None,
        "--price-per-gb-second",
        min=0,
        help="USD per GB-second (default: the server's, AWS x86: 0.0000166667).",
    ),
    data_dir: Path = DATA_DIR,
    endpoint_url: str | None = ENDPOINT,
) -> None:
    """Requests, GB-seconds and cost per function (AWS x86 prices unless configured)."""
    from nimbus import cli_functions as f

    prices: dict[str, float] = {}
    if per_million is not None:
        prices["PricePerRequest"] = per_million / 1e6
    if per_gb_second is not None:
        prices["PricePerGbSecond"] = per_gb_second
    try:
        f.usage(f.connect(data_dir, endpoint_url), f.parse_since(since), prices)
    except RuntimeError as e:
        errors.print(f"[red]{e}[/]")
        raise typer.Exit(1) from None


route_app = typer.Typer(no_args_is_help=True, help="HTTP gateway routes (port 8901).")
app.add_typer(route_app, name="route")


def _nimbus_call(
    data_dir: Path, endpoint_url: str | None, operation: str, params: dict[str, object]
) -> dict[str, object]:
    from nimbus import cli_functions as f

    try:
        return f.connect(data_dir, endpoint_url).nimbus(operation, params)
    except RuntimeError as e:
        errors.print(f"[red]{e}[/]")
        raise typer.Exit(1) from None


@route_app.command("add")
def route_add(
    route_key: str = typer.Argument(..., help="'GET /items/{id}', 'ANY /{proxy+}' or '$default'"),
    function: str = typer.Argument(..., help="Function name or ARN."),
    payload_format: str = typer.Option("2.0", "--payload-format", help="2.0 or 1.0"),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing route."),
    data_dir: Path = DATA_DIR,
    endpoint_url: str | None = ENDPOINT,
) -> None:
    """Route HTTP requests on the gateway port to a function."""
    out = _nimbus_call(
        data_dir,
        endpoint_url,
        "AddRoute",
        {
            "RouteKey": route_key,
            "FunctionName": function,
            "PayloadFormatVersion": payload_format,
            "Replace": replace,
        },
    )
    console.print(
        f"[green]route[/] {out['RouteKey']} -> {out['FunctionName']} "
        f"(payload {out['PayloadFormatVersion']})"
    )


@route_app.command("rm")
def route_rm(
    route_key: str, data_dir: Path = DATA_DIR, endpoint_url: str | None = ENDPOINT
) -> None:
    """Remove a route."""
    _nimbus_call(data_dir, endpoint_url, "RemoveRoute", {"RouteKey": route_key})
    console.print(f"removed {route_key}")


@route_app.command("ls")
def route_ls(data_dir: Path = DATA_DIR, endpoint_url: str | None = ENDPOINT) -> None:
    """List routes, most specific first."""
    out = _nimbus_call(data_dir, endpoint_url, "ListRoutes", {})
    table = Table(show_header=True)
    for column in ("route", "function", "payload"):
        table.add_column(column)
    routes = out.get("Routes")
    for route in routes if isinstance(routes, list) else []:
        table.add_row(route["RouteKey"], route["FunctionName"], route["PayloadFormatVersion"])
    console.print(table)


@app.command()
def doctor() -> None:
    """Show which isolation features are active on this host, and which runtimes are installed."""
    from nimbus.config import EngineConfig
    from nimbus.engine.engine import Engine
    from nimbus.engine.runtimes import RuntimeRegistry
    from nimbus.obs.logs import LogStore
    from nimbus.obs.metering import MeteringLog
    from nimbus.sandbox.tuning import tuning_hints

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
    hints = tuning_hints()
    console.print("[bold]Host tuning:[/] " + ("nothing to suggest" if not hints else ""))
    for hint in hints:
        console.print(f"[yellow]![/] {hint}")
    _doctor_placement()


def _doctor_placement() -> None:
    """CPU placement (NIMBUS_CPU_PLACEMENT) and the wake-up costs that decide it."""
    from nimbus.sandbox.placement import DEFAULT_MODE, CpuPlacement
    from nimbus.sandbox.wakeups import same_and_cross_cpu

    mode = os.environ.get("NIMBUS_CPU_PLACEMENT", DEFAULT_MODE)
    try:
        placement = CpuPlacement.choose(mode)
    except ValueError as e:
        console.print(f"[red]![/] {e}")
        return
    chosen = placement.describe() if placement else "left to the kernel"
    console.print(f"[bold]CPU placement:[/] {mode}: {chosen}")
    measured = same_and_cross_cpu()
    if measured is not None:
        same, cross = measured
        console.print(
            f"  waking a process: {same:.1f} µs round trip on one CPU, {cross:.1f} µs across "
            f"CPUs ({cross / same:.0f}x); see README, CPU placement"
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
