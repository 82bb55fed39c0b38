"""Host side of a zygote: start it, ask it to fork environments, hear about exits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import subprocess
from collections.abc import Callable
from typing import Any

from nimbus.errors import ServiceError
from nimbus.sandbox.plan import RUNTIME_DIR

log = logging.getLogger("nimbus.engine")
ENTRY = RUNTIME_DIR / "entry.py"
START_TIMEOUT_S = 30.0


class ZygoteProcess:
    """One pre-initialised interpreter per runtime; every environment is one of its forks."""

    def __init__(
        self,
        runtime: str,
        interpreter: str,
        rootfs: dict[str, Any] | None,
        on_exit: Callable[[int, int], None],
        sdk_path: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.sdk_path = sdk_path  # where functions find boto3 (appended to sys.path)
        self.interpreter = interpreter
        self.rootfs = rootfs
        self._on_exit = on_exit
        self._ids = itertools.count(1)
        self._spawns: dict[int, asyncio.Future[tuple[int, str | None]]] = {}
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._children: set[int] = set()
        self.alive = False
        self.cache_tag: str | None = None  # its Python's bytecode tag, e.g. "cpython-312"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Bursts of spawn requests (pre-warming hundreds) queue here while the zygote forks.
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        spec = {"control_fd": theirs.fileno(), "rootfs": self.rootfs, "sdk_path": self.sdk_path}
        self._process = subprocess.Popen(
            [self.interpreter, "-I", str(ENTRY), json.dumps(spec)],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        ours.setblocking(False)
        self._sock = ours
        try:
            hello = await asyncio.wait_for(loop.sock_recv(ours, 1 << 16), START_TIMEOUT_S)
        except TimeoutError:
            hello = b""
        ready = json.loads(hello) if hello else {}
        if ready.get("op") != "ready":
            self.stop()
            raise ServiceError(
                f"The {self.runtime} zygote ({self.interpreter}) failed to start; "
                "see the server log for its error."
            )
        self.cache_tag = ready.get("cache_tag")
        self.alive = True
        self._reader = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._sock is not None
        try:
            while True:
                data = await loop.sock_recv(self._sock, 1 << 16)
                if not data:
                    break
                message = json.loads(data)
                op = message["op"]
                if op == "exit":
                    self._children.discard(message["pid"])
                    try:
                        self._on_exit(message["pid"], message["status"])
                    except Exception:  # a bad environment must not look like a dead zygote
                        log.exception("handling the exit of pid %s", message["pid"])
                elif op == "spawned":
                    self._children.add(message["pid"])
                    reply = (message["pid"], message.get("cgroup"))
                    _resolve(self._spawns.pop(message["id"], None), reply)
                elif op == "failed":
                    future = self._spawns.pop(message["id"], None)
                    if future and not future.done():
                        future.set_exception(ServiceError(f"fork failed: {message['error']}"))
        except (OSError, ValueError):
            pass
        finally:
            self.alive = False
            for future in self._spawns.values():
                if not future.done():
                    future.set_exception(ServiceError(f"the {self.runtime} zygote exited"))
            self._spawns.clear()
            # Its children died with it (parent-death signal): report them as killed.
            for pid in list(self._children):
                self._on_exit(pid, 9)
            self._children.clear()

    async def spawn(self, request: dict[str, Any], fds: list[int]) -> tuple[int, str | None]:
        """Start one environment; returns its pid (in the host's pid namespace) and the
        name of the cgroup the zygote made for it (None without cgroups)."""
        if not self.alive or self._sock is None:
            raise ServiceError(f"the {self.runtime} zygote is not running")
        request_id = next(self._ids)
        request["id"] = request_id
        future: asyncio.Future[tuple[int, str | None]] = asyncio.get_running_loop().create_future()
        self._spawns[request_id] = future
        data = json.dumps(request).encode()
        while True:
            try:
                socket.send_fds(self._sock, [data], fds)
                break
            except BlockingIOError:
                await asyncio.sleep(0.001)
        return await future

    def stop(self) -> None:
        self.alive = False
        if self._reader is not None:
            self._reader.cancel()
        if self._sock is not None:
            self._sock.close()  # the zygote kills its children and exits on EOF
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()


def _resolve(
    future: asyncio.Future[tuple[int, str | None]] | None, value: tuple[int, str | None]
) -> None:
    if future is not None and not future.done():
        future.set_result(value)
