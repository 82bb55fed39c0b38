"""`nimbus server`: uvicorn (uvloop + httptools) serving the Nimbus ASGI app."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from nimbus.app import Nimbus, ServerConfig

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


class _CoalescingTransport:
    """A connection's transport that joins the writes of one loop iteration.

    uvicorn writes a response's status line and headers, then its body, each straight to
    the socket: two system calls and two TCP segments per response, and a second wake-up
    of the client. Joined, a small response is one of each."""

    LARGE = 65536  # a body this big goes out at once (streamed replies keep flow control)

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []
        self._size = 0
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= self.LARGE:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending, self._size = self._pending, [], 0
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._size = [], 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:  # everything else: the real transport's
        return getattr(self._transport, name)


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a write-coalescing transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescingTransport(transport))  # type: ignore[arg-type]


def serve(host: str, port: int, data_dir: Path, auth: str, gateway_port: int = 8901) -> None:
    if auth == "open" and not is_loopback(host):
        raise SystemExit(
            f"--auth open accepts any credentials: refusing to combine it with --host {host}. "
            "Bind to 127.0.0.1 (the default) or drop --auth open."
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ServerConfig(
        data_dir=data_dir.expanduser(), host=host, port=port, auth=auth, gateway_port=gateway_port
    )
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
            http=_Protocol,
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
