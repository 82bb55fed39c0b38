"""The primary's side of the cells: starts them, restarts one that dies, stops them first
at shutdown (their invocations in flight drain), and adopts the connections they hand
over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path

from nimbus.cells.cell import CellConfig, cell_argv
from nimbus.cells.distribute import Distributor
from nimbus.cells.handoff import HandoffReceiver, HandoffSender
from nimbus.tasks import Background

log = logging.getLogger("nimbus.cells")
RESTART_DELAY_S = 1.0


class Supervisor:
    def __init__(
        self, configs: list[CellConfig], receiver: HandoffReceiver, distributor: Distributor
    ) -> None:
        self.configs = configs
        self.receiver = receiver
        self.distributor = distributor
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._stopping = False
        self._tasks = Background()
        self._up = asyncio.Event()
        self.restarts = 0

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes.values()]

    async def start(self, timeout_s: float = 60.0) -> None:
        """Every cell started; returns once each serves (or after `timeout_s`)."""
        await self.receiver.start()
        self._up = asyncio.Event()
        for config in self.configs:
            self._tasks.spawn(self._keep_running(config))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._up.wait()
        if len(self.distributor.cells) < len(self.configs):
            log.error("%d of %d cells are up", len(self.distributor.cells), len(self.configs))

    async def _keep_running(self, config: CellConfig) -> None:
        while not self._stopping:
            with contextlib.suppress(FileNotFoundError):
                Path(config.socket_path).unlink()  # a dead cell's: not a sign of a live one
            process = await asyncio.create_subprocess_exec(
                *cell_argv(config), stdin=asyncio.subprocess.DEVNULL
            )
            self._processes[config.index] = process
            sender = HandoffSender(Path(config.socket_path))
            connecting = asyncio.create_task(sender.connect(timeout_s=120))
            waiting = asyncio.create_task(process.wait())
            await asyncio.wait((connecting, waiting), return_when=asyncio.FIRST_COMPLETED)
            if connecting.done() and connecting.exception() is None:
                self.distributor.cells.append(sender)  # it gets connections from now on
                if len(self.distributor.cells) == len(self.configs):
                    self._up.set()
            else:
                connecting.cancel()
            status = await waiting
            with contextlib.suppress(ValueError):
                self.distributor.cells.remove(sender)
            await sender.close()
            self._processes.pop(config.index, None)
            if self._stopping:
                return
            log.error("cell %d exited with status %s; restarting it", config.index, status)
            self.restarts += 1
            await asyncio.sleep(RESTART_DELAY_S)

    async def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping = True
        for process in list(self._processes.values()):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout_s):
                await self._tasks.wait()
        except TimeoutError:
            for process in list(self._processes.values()):
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await self._tasks.wait()
        await self.receiver.close()


def cell_configs(
    count: int, cpus: list[int], base: CellConfig, uid_base: int, uid_count: int
) -> list[CellConfig]:
    """Cells 1 .. count, each on its own CPU (round robin when there are more cells than
    CPUs), with its own share of the sandbox uids (the primary has the first) and its own
    run directory."""
    share = uid_count // (count + 1)
    return [
        replace(
            base,
            index=i,
            cpu=cpus[(i - 1) % len(cpus)],
            socket_path=str(socket_path(Path(base.data_dir), f"cell-{i}")),
            engine={
                **base.engine,
                "run_name": f"cell-{i}",
                "sandbox_uid_base": uid_base + i * share,
                "sandbox_uid_count": share,
            },
        )
        for i in range(1, count + 1)
    ]


def socket_path(data_dir: Path, name: str) -> Path:
    """A Unix socket of the server's (paths must be short: ~108 bytes)."""
    path = data_dir / "run" / f"{name}.sock"
    if len(str(path)) < 100:
        return path
    return Path("/tmp") / f"nimbus-{os.getpid()}-{name}.sock"
