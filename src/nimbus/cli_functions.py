"""CLI commands that manage and run functions, through the HTTP API only."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import typer
from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from nimbus.client import Connection, NotConfigured

console = Console()
errors = Console(stderr=True)


def connect(data_dir: Path, endpoint_url: str | None) -> Connection:
    try:
        return Connection.discover(data_dir.expanduser(), endpoint_url)
    except NotConfigured as e:
        errors.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None


def fail(error: ClientError) -> typer.Exit:
    info = error.response.get("Error", {})
    errors.print(f"[red]{info.get('Code', 'Error')}:[/] {info.get('Message', error)}")
    return typer.Exit(1)


def zip_directory(directory: Path) -> bytes:
    """The deployment package: every file under `directory`, modes kept (bootstrap stays +x)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo.from_file(path, path.relative_to(directory).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def deploy(
    connection: Connection,
    directory: Path,
    name: str,
    handler: str,
    runtime: str,
    memory: int | None,
    timeout: int | None,
    env: list[str],
) -> dict[str, Any]:
    lam = connection.client("lambda")
    variables = dict(item.split("=", 1) for item in env)
    config: dict[str, Any] = {"Handler": handler, "Runtime": runtime}
    if memory:
        config["MemorySize"] = memory
    if timeout:
        config["Timeout"] = timeout
    if env:
        config["Environment"] = {"Variables": variables}
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=errors, transient=True
    ) as progress:
        task = progress.add_task(f"zipping {directory}")

        def step(done: str, next_step: str) -> None:
            """A finished step stays on screen (and in a log when stderr is no terminal)."""
            progress.console.print(f"[green]✓[/] {done}")
            progress.update(task, description=next_step)

        package = zip_directory(directory)
        try:
            lam.get_function(FunctionName=name)
            exists = True
        except lam.exceptions.ResourceNotFoundException:
            exists = False
        action = "updating code of" if exists else "creating"
        step(f"zipped {directory} ({len(package):,} bytes)", f"{action} {name}")
        if exists:
            lam.update_function_code(FunctionName=name, ZipFile=package)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
            step(f"updated the code of {name}", f"updating the configuration of {name}")
            lam.update_function_configuration(FunctionName=name, **config)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
            step(f"updated the configuration of {name}", "")
        else:
            lam.create_function(
                FunctionName=name,
                Role=f"arn:aws:iam::{connection.account_id}:role/nimbus",
                Code={"ZipFile": package},
                **config,
            )
            step(f"created {name}", f"waiting for {name} to become active")
            lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
            step(f"{name} is active", "")
    result: dict[str, Any] = lam.get_function_configuration(FunctionName=name)
    return result


def read_payload(payload: str | None) -> bytes:
    if payload is None:
        return b"{}"
    if payload.startswith("@"):
        try:
            return Path(payload[1:]).read_bytes()
        except OSError as e:
            raise typer.BadParameter(f"cannot read {payload[1:]}: {e.strerror}") from None
    return payload.encode()


def invoke(connection: Connection, name: str, payload: bytes, tail: bool) -> int:
    lam = connection.client("lambda")
    response = lam.invoke(FunctionName=name, Payload=payload, LogType="Tail" if tail else "None")
    if tail and response.get("LogResult"):
        errors.print(
            base64.b64decode(response["LogResult"]).decode(), end="", markup=False, highlight=False
        )
    sys.stdout.write(response["Payload"].read().decode(errors="replace") + "\n")
    return 1 if response.get("FunctionError") else 0


def list_functions(connection: Connection) -> None:
    lam = connection.client("lambda")
    table = Table(show_header=True)
    for column in ("name", "runtime", "handler", "memory", "timeout", "state", "last modified"):
        table.add_column(column)
    for page in lam.get_paginator("list_functions").paginate():
        for f in page["Functions"]:
            table.add_row(
                f["FunctionName"],
                f.get("Runtime", ""),
                f.get("Handler", ""),
                f"{f['MemorySize']} MB",
                f"{f['Timeout']} s",
                f.get("State", ""),
                f["LastModified"],
            )
    console.print(table)


def parse_since(text: str) -> float:
    """`10m`, `2h`, `7d`, `30s` ago, or an epoch timestamp."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    return float(text)


def logs(connection: Connection, name: str, since: float, follow: bool) -> None:
    client = connection.client("logs")
    group = f"/aws/lambda/{name}"
    start = int(since * 1000)
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start}
        try:
            for page in client.get_paginator("filter_log_events").paginate(**kwargs):
                for event in page["events"]:
                    sys.stdout.write(event["message"] + "\n")
                    start = max(start, event["timestamp"] + 1)
        except client.exceptions.ResourceNotFoundException:
            if not follow:
                errors.print(f"No logs for {name} yet.")
                return
        sys.stdout.flush()
        if not follow:
            return
        time.sleep(1)


def usage(connection: Connection, since: float, prices: dict[str, float]) -> None:
    data = connection.nimbus("GetUsage", {"Since": since, **prices})
    table = Table(title=f"Usage since {time.strftime('%Y-%m-%d %H:%M', time.localtime(since))}")
    for column in ("function", "requests", "GB-seconds", "cost (USD)"):
        table.add_column(column, justify="right" if column != "function" else "left")
    for row in data["Functions"]:
        table.add_row(
            row["function"],
            f"{row['requests']:,}",
            f"{row['gb_seconds']:.4f}",
            money(row["cost"]),
        )
    table.add_row(
        "[bold]total[/]",
        f"[bold]{data['Requests']:,}[/]",
        f"[bold]{data['GbSeconds']:.4f}[/]",
        f"[bold]{money(data['Cost'])}[/]",
    )
    console.print(table)
    prices = data["Prices"]
    console.print(
        f"prices: ${prices['PerRequest'] * 1e6:.2f} per million requests, "
        f"${prices['PerGbSecond']:.10f} per GB-second"
    )


def money(usd: float) -> str:
    """Cents for real bills, significant digits for the tiny ones (one request: 2e-7)."""
    return f"{usd:.4f}" if usd >= 0.01 or usd == 0 else f"{usd:.3g}"


__all__ = ["deploy", "invoke", "json", "list_functions", "logs", "os", "usage"]
