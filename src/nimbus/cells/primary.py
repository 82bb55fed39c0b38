"""`nimbus server --cells N`, the primary's part: the plan (CPUs, shared memory, uid
shares) made before anything starts, and the cells started once the primary serves."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nimbus.cells.cell import CellConfig
from nimbus.cells.distribute import Distributor
from nimbus.cells.handoff import HandoffReceiver
from nimbus.cells.shared import SharedState
from nimbus.cells.supervisor import Supervisor, cell_configs, socket_path
from nimbus.config import EngineConfig
from nimbus.http_protocol import HttpProtocol
from nimbus.tasks import Background


@dataclass
class CellPlan:
    cells: int  # invoke cells, beside the primary
    cpus: list[int]
    shared: SharedState

    @property
    def processes(self) -> int:
        return self.cells + 1

    @classmethod
    def make(cls, wanted: str, data_dir: Path) -> CellPlan | None:
        """None for no cells; `auto` is one cell per CPU (none on a single CPU)."""
        cpus = sorted(os.sched_getaffinity(0))
        if wanted == "auto":
            count = len(cpus) if len(cpus) > 1 else 0
        elif wanted.isdigit():
            count = int(wanted)
        else:
            raise ValueError(f"--cells must be auto or a number >= 0, not {wanted!r}")
        if count == 0:
            return None
        (data_dir / "run").mkdir(parents=True, exist_ok=True)
        shared = SharedState(data_dir / "run" / "cells.shm", count + 1, create=True)
        return cls(count, cpus, shared)

    def engine_overrides(self) -> dict[str, Any]:
        """The primary's share of the sandbox uids (each cell has its own)."""
        return {"sandbox_uid_count": EngineConfig.sandbox_uid_count // self.processes}


class PrimaryCells:
    def __init__(self, plan: CellPlan, base: CellConfig) -> None:
        self.plan = plan
        self.base = base
        self.distributor = Distributor()  # the primary's protocol deals connections out
        self.supervisor: Supervisor | None = None
        self._adoptions = Background()

    async def start(self, uvicorn_config: Any, server_state: Any, app_state: Any) -> None:
        loop = asyncio.get_running_loop()

        def adopt(sock: socket.socket, received: bytes) -> None:
            factory = functools.partial(
                HttpProtocol,
                config=uvicorn_config,
                server_state=server_state,
                app_state=app_state,
                received=received,
            )
            self._adoptions.spawn(_adopt(loop, factory, sock))

        receiver = HandoffReceiver(Path(self.base.handoff_path), adopt)
        defaults = EngineConfig()
        configs = cell_configs(
            self.plan.cells,
            self.plan.cpus,
            self.base,
            defaults.sandbox_uid_base,
            defaults.sandbox_uid_count,
        )
        self.supervisor = Supervisor(configs, receiver, self.distributor)
        await self.supervisor.start()

    async def stop(self) -> None:
        """The cells first; the shared memory stays mapped (the primary's own invocations
        in flight still count in it) until the process ends."""
        if self.supervisor is not None:
            await self.supervisor.stop()


async def _adopt(loop: asyncio.AbstractEventLoop, factory: Any, sock: socket.socket) -> None:
    await loop.connect_accepted_socket(factory, sock)


def base_config(
    plan: CellPlan,
    data_dir: Path,
    endpoint_url: str,
    region: str,
    account_id: str,
    auth: str,
) -> CellConfig:
    return CellConfig(
        index=0,
        cells=plan.processes,
        cpu=plan.cpus[0],
        spread=plan.cpus,
        data_dir=str(data_dir),
        socket_path="",  # each cell's own (cell_configs)
        handoff_path=str(socket_path(data_dir, "primary")),
        shared_path=str(plan.shared.path),
        endpoint_url=endpoint_url,
        region=region,
        account_id=account_id,
        auth=auth,
        parent_pid=os.getpid(),
    )
