"""`nimbus server`: uvicorn (uvloop + httptools) serving the Nimbus ASGI app."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from pathlib import Path

import uvicorn
from rich.console import Console

from nimbus.app import Nimbus, ServerConfig
from nimbus.http_protocol import HttpProtocol
from nimbus.sandbox.placement import CpuPlacement
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
    listener = socket.create_server((host, port), family=family, backlog=2048)
    listener.set_inheritable(True)
    return listener


def serve(
    host: str,
    port: int,
    data_dir: Path,
    auth: str,
    gateway_port: int = 8901,
    account_id: str | None = None,
) -> None:
    if auth == "open" and not is_loopback(host):
        raise SystemExit(
            f"--auth open accepts any credentials: refusing to combine it with --host {host}. "
            "Bind to 127.0.0.1 (the default) or drop --auth open."
        )
    data_dir = data_dir.expanduser()
    try:
        placement = CpuPlacement.choose(os.environ.get("NIMBUS_CPU_PLACEMENT", "spread"))
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
    )
    if placement is not None:
        placement.pin_this_process()  # before any thread or zygote starts: they inherit it
    app = Nimbus(config)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
            await super().startup(sockets)
            if app.credentials is not None and not self.should_exit:
                _announce(app, config)

    server = Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http=HttpProtocol,  # uvicorn's Server, Nimbus' HTTP/1.1 protocol (http_protocol.py)
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


def _announce(app: Nimbus, config: ServerConfig) -> None:
    creds = app.credentials
    assert creds is not None
    (config.data_dir / "endpoint").write_text(config.endpoint_url + "\n")
    console.print(
        f"[bold green]Nimbus[/] serving the AWS APIs on [bold]{config.endpoint_url}[/]"
        f" (data: {config.data_dir}, auth: {config.auth})"
    )
    if app.new_credentials:
        console.print(
            f"Created the root account {creds.account_id} and its access key "
            f"(kept in {config.data_dir / 'credentials.json'}, mode 0600)."
        )
    console.print("Use it from boto3 / the AWS CLI with:  [bold]eval $(nimbus env)[/]")
