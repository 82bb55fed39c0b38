"""`nimbus server`: uvicorn (uvloop + httptools) serving the Nimbus ASGI app."""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import socket
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console

from nimbus.app import Nimbus, ServerConfig
from nimbus.cells.distribute import DistributingProtocol
from nimbus.cells.primary import CellPlan, PrimaryCells, base_config
from nimbus.http_protocol import HttpProtocol
from nimbus.sandbox.placement import DEFAULT_MODE, CpuPlacement
from nimbus.services.accounts import load_credentials

console = Console(stderr=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Not inheritable (the default): cells, zygotes and environments must never hold it.
    return socket.create_server((host, port), family=family, backlog=2048)


def serve(
    host: str,
    port: int,
    data_dir: Path,
    auth: str,
    gateway_port: int = 8901,
    account_id: str | None = None,
    cells: str = "0",
) -> None:
    if auth == "open" and not is_loopback(host):
        raise SystemExit(
            f"--auth open accepts any credentials: refusing to combine it with --host {host}. "
            "Bind to 127.0.0.1 (the default) or drop --auth open."
        )
    data_dir = data_dir.expanduser()
    try:
        placement = CpuPlacement.choose(os.environ.get("NIMBUS_CPU_PLACEMENT", DEFAULT_MODE))
        plan = CellPlan.make(cells, data_dir)
        if plan is not None and placement is not None and placement.adaptive:
            placement = None  # the cells place themselves; the primary stays unpinned
    except ValueError as e:
        raise SystemExit(str(e)) from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ServerConfig(
        data_dir=data_dir,
        host=host,
        port=port,
        auth=auth,
        account_id=root_account(data_dir, account_id),
        gateway_port=gateway_port,
        placement=placement,
        shared=plan.shared if plan else None,
        engine=plan.engine_overrides() if plan else {},
    )
    if placement is not None and not placement.adaptive:
        placement.pin_this_process()  # before any thread or zygote starts: they inherit it
    app = Nimbus(config)

    primary_cells: PrimaryCells | None = None
    protocol: Any = HttpProtocol  # uvicorn's Server, Nimbus' HTTP/1.1 protocol
    if plan is not None:
        base = base_config(
            plan, data_dir, config.endpoint_url, config.region, config.account_id, auth
        )
        primary_cells = PrimaryCells(plan, base)
        protocol = functools.partial(DistributingProtocol, distributor=primary_cells.distributor)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
            await super().startup(sockets)
            if app.credentials is not None and not self.should_exit:
                _announce(app, config, plan.cells if plan else 0)

        async def shutdown(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
            if primary_cells is not None:
                await primary_cells.stop()  # their invocations in flight finish first
            await super().shutdown(sockets)

    if primary_cells is not None:
        started = primary_cells

        async def start_cells() -> None:  # the app is up, the port does not listen yet
            await started.start(server.config, server.server_state, server.lifespan.state)

        app.on_started.append(start_cells)
    server = Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http=protocol,
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=30,
            proxy_headers=False,  # not behind a proxy: one middleware less per request
            server_header=False,  # AWS sends no "server: uvicorn"; one header less per reply
        )
    )
    # One server, one lifespan, two listening sockets: the AWS APIs and the HTTP gateway
    # (the app tells them apart by the local port).
    try:
        sockets = [_listen(host, port)] + ([_listen(host, gateway_port)] if gateway_port else [])
    except OSError as e:
        raise SystemExit(
            f"cannot listen on {host}: {e.strerror} (is another server "
            "running? choose --port / --gateway-port)"
        ) from None
    server.run(sockets=sockets)


def root_account(data_dir: Path, wanted: str | None) -> str:
    """The data dir's root account (made on its first start), which --account-id names
    only for a new data dir: every ARN and record in an existing one carries its id."""
    existing = load_credentials(data_dir)
    if existing is None:
        return wanted or ServerConfig.account_id
    if wanted is not None and wanted != existing.account_id:
        raise SystemExit(
            f"{data_dir} holds account {existing.account_id}, not {wanted}: drop --account-id "
            "or choose another --data-dir for a new account."
        )
    return existing.account_id


def _announce(app: Nimbus, config: ServerConfig, cells: int) -> None:
    creds = app.credentials
    assert creds is not None
    (config.data_dir / "endpoint").write_text(config.endpoint_url + "\n")
    console.print(
        f"[bold green]Nimbus[/] serving the AWS APIs on [bold]{config.endpoint_url}[/]"
        f" (data: {config.data_dir}, auth: {config.auth}"
        + (f", {cells} invoke cell{'s' if cells > 1 else ''}" if cells else "")
        + ")"
    )
    if app.new_credentials:
        console.print(
            f"Created the root account {creds.account_id} and its access key "
            f"(kept in {config.data_dir / 'credentials.json'}, mode 0600)."
        )
    console.print("Use it from boto3 / the AWS CLI with:  [bold]eval $(nimbus env)[/]")
