"""An invoke cell: a process of `nimbus server --cells N` that serves synchronous Invokes
on its own CPU, with its own engine and environments, and hands every other connection
to the primary (cells/__init__.py).

    python -m nimbus.cells.cell '<CellConfig as JSON>'   (started by the supervisor)
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import functools
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from nimbus.api.edge import Edge, Receive, Scope, Send
from nimbus.api.lambda_ import LambdaApi
from nimbus.cells.handoff import HandoffReceiver, HandoffSender
from nimbus.cells.protocol import CellProtocol, HandOff, declined
from nimbus.cells.shared import SharedState
from nimbus.config import EngineConfig
from nimbus.engine.engine import Engine
from nimbus.obs.logs import LogStore
from nimbus.sandbox.placement import CpuPlacement
from nimbus.services.accounts import load_credentials
from nimbus.services.invoke import InvokeService
from nimbus.services.names import parse_function_name
from nimbus.services.registry import FunctionRegistry
from nimbus.store.metering import MeteringWriter
from nimbus.store.sqlite import Database
from nimbus.tasks import Background, cancel_and_wait

log = logging.getLogger("nimbus.cells")
PR_SET_PDEATHSIG = 1


@dataclass
class CellConfig:
    index: int  # 1 .. cells - 1 (0 is the primary)
    cells: int  # processes: the primary and its cells (slots of the shared memory)
    cpu: int
    spread: list[int]  # every CPU of the server (long-running environments go there)
    data_dir: str
    socket_path: str  # where the primary sends this cell its connections
    handoff_path: str  # where this cell gives connections back
    shared_path: str
    endpoint_url: str
    region: str
    account_id: str
    auth: str
    parent_pid: int = 0  # the primary
    engine: dict[str, Any] = field(default_factory=dict)  # EngineConfig overrides


class CellPeers:
    """The engine's view of the other cells (engine.Peers) through the shared memory."""

    def __init__(self, shared: SharedState, index: int) -> None:
        self.shared = shared
        self.index = index

    def in_flight_elsewhere(self) -> int:
        return self.shared.in_flight_elsewhere(self.index)

    def report_in_flight(self, count: int) -> None:
        self.shared.set_in_flight(self.index, count)


class CellApp:
    """The cell's ASGI app: the edge with a Lambda adapter that serves Invoke alone."""

    def __init__(self, config: CellConfig, handoffs: HandoffSender) -> None:
        self.config = config
        self.handoffs = handoffs
        self.server: uvicorn.Server | None = None
        self.receiver: HandoffReceiver | None = None
        self.edge: Edge | None = None
        self._parts: list[Any] = []
        self._watch: asyncio.Task[None] | None = None
        self._revisions: dict[str, str] = {}
        self._adoptions = Background()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self.edge is not None
        try:
            await self.edge(scope, receive, send)
        except HandOff:
            declined(scope)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        c = self.config
        data = Path(c.data_dir)
        shared = SharedState(Path(c.shared_path), c.cells)
        db = await Database.open(data / "nimbus.db")
        credentials = load_credentials(data)
        assert credentials is not None, "the primary creates the credentials before its cells"
        metering = MeteringWriter(db)
        await metering.start()
        engine_config = EngineConfig(
            data_dir=data, account_id=c.account_id, region=c.region, **c.engine
        )
        logs = LogStore(data / "logs")
        placement = CpuPlacement(frozenset({c.cpu}), frozenset(c.spread))
        engine = Engine(engine_config, logs, metering, placement, CellPeers(shared, c.index))
        await engine.start()
        environment = {c.account_id: credentials.as_environment()}
        registry = FunctionRegistry(
            db, engine_config.code_dir, c.endpoint_url, environment, shared, follower=True
        )
        invoke = InvokeService(registry, engine, c.region)

        async def serve_invoke(account: str, p: dict[str, Any]) -> dict[str, Any]:
            """What the primary alone can run goes to it: qualified names, functions that
            are not Active or are being updated, reserved concurrency (counted exactly)."""
            name, qualifier, _ = parse_function_name(p["FunctionName"], p.get("Qualifier"))
            record = registry.cached(account, name) or await registry.get(account, name, c.region)
            if (
                qualifier not in (None, "$LATEST")
                or record.state != "Active"
                or record.last_update_status == "InProgress"
                or record.reserved_concurrency is not None
            ):
                raise HandOff
            if self._revisions.get(record.arn, record.revision_id) != record.revision_id:
                await engine.retire(record.arn)  # its warm environments run the old code
            self._revisions[record.arn] = record.revision_id
            return await invoke.invoke(account, p)

        known: dict[str, tuple[str, str]] = {}

        async def lookup(access_key: str) -> tuple[str, str] | None:
            found = known.get(access_key)
            if found is None:
                found = await db.access_key(access_key)
                if found is not None:
                    known[access_key] = found
            return found

        self.edge = Edge(
            {"lambda": LambdaApi.serving({"Invoke": serve_invoke})},
            lookup,
            open_auth_account=c.account_id if c.auth == "open" else None,
        )
        self._parts = [engine, metering, logs, db, shared]
        self._watch = asyncio.create_task(self._watch_parent(os.getppid()))
        await self.handoffs.connect()
        self.receiver = HandoffReceiver(Path(c.socket_path), self._adopt)
        await self.receiver.start()  # the primary starts dealing connections out to us

    def _adopt(self, sock: socket.socket, received: bytes) -> None:
        server = self.server
        assert server is not None and server.lifespan is not None
        factory = functools.partial(
            CellProtocol,
            config=server.config,
            server_state=server.server_state,
            app_state=server.lifespan.state,
            handoffs=self.handoffs,
            received=received,
        )
        self._adoptions.spawn(_adopt(factory, sock))

    async def _watch_parent(self, parent: int) -> None:
        """A cell does not outlive its primary (even one killed with -9)."""
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        log.warning("cell %d: the primary is gone; stopping", self.config.index)
        if self.server is not None:
            self.server.should_exit = True

    async def stop(self) -> None:
        await cancel_and_wait(self._watch)
        if self.receiver is not None:
            await self.receiver.close()
        await self.handoffs.close()
        engine, metering, logs, db, shared = self._parts or [None] * 5
        if engine is not None:
            await engine.close()  # drains the invocations in flight
            await metering.close()
            logs.close()
            await db.close()
            shared.set_in_flight(self.config.index, 0)
            shared.close()


async def _adopt(factory: Any, sock: socket.socket) -> None:
    await asyncio.get_running_loop().connect_accepted_socket(factory, sock)


def die_with_parent(parent: int) -> None:
    """SIGKILL when the primary dies (even by kill -9): a cell left behind would keep the
    port, and the restarted server could not listen on it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def main(argv: list[str]) -> None:
    config = CellConfig(**json.loads(argv[0]))
    die_with_parent(config.parent_pid)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s cell-{config.index} %(name)s: %(message)s",
    )
    os.sched_setaffinity(0, {config.cpu})  # before any thread or zygote: they inherit it
    app = CellApp(config, HandoffSender(Path(config.handoff_path)))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="uvloop",
            http=CellProtocol,  # (connections come from the primary: _adopt)
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=30,
            proxy_headers=False,
            server_header=False,
        )
    )
    app.server = server
    server.run(sockets=[])  # no listening socket: the primary deals connections out


def cell_argv(config: CellConfig) -> list[str]:
    return [sys.executable, "-m", "nimbus.cells.cell", json.dumps(dataclasses.asdict(config))]


if __name__ == "__main__":
    main(sys.argv[1:])
