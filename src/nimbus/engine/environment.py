"""One execution environment: a sandboxed process that runs one invocation at a time."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
from pathlib import Path

from nimbus.engine.logpipe import LogPipe
from nimbus.engine.transport import Outcome, Transport
from nimbus.models import FunctionSpec
from nimbus.sandbox import placement
from nimbus.sandbox.cgroups import EnvCgroup

# How Go's os/exec (AWS' runtime manager) words the signals that end a runtime.
SIGNAL_WORDS: dict[int, str] = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
}


class Environment:
    def __init__(
        self,
        env_id: str,
        spec: FunctionSpec,
        stream: str,
        transport: Transport,
        logs: LogPipe,
        cgroup: EnvCgroup | None,
        uid: int | None,
    ) -> None:
        self.id = env_id
        self.spec = spec
        self.stream = stream  # AWS_LAMBDA_LOG_STREAM_NAME
        self.transport = transport
        self.logs = logs
        self.cgroup = cgroup
        self.uid = uid
        self.pid = 0
        self.created = time.monotonic()
        self.last_used = self.created
        self.init_ms: float | None = None  # reported on the first invocation only
        self.init_answer: Outcome | None = None  # an init_error answer, when INIT failed
        self.invocations = 0
        self.timed_out = False
        self.doomed = False  # must not be reused (timeout, crash, OOM, init error)
        self.exit_status: int | None = None
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._final_peak_mb = 0
        self._final_oom = False
        # CPU placement (sandbox/placement.py): on the server's CPU unless released
        self.released = False
        self.short_runs = 0  # short invocations in a row since it was released
        # The running invocation's next deadline; None between invocations.
        self.timer: asyncio.TimerHandle | None = None

    @property
    def alive(self) -> bool:
        return self.exit_status is None

    def on_exit(self, status: int) -> None:
        """The zygote reported our process' end (its cgroup is about to go: read it now)."""
        self._final_peak_mb = self.max_memory_mb()
        self._final_oom = self.oom_killed()
        self.exit_status = status
        self.doomed = True
        if not self.exited.done():
            self.exited.set_result(status)
        self.transport.abort(self.exit_reason())

    def exit_reason(self) -> str:
        """`Runtime exited with error: signal: killed` / `exit status 1`, as AWS words it."""
        status = self.exit_status
        if status is None:
            return "Runtime exited without providing a reason"
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            name = SIGNAL_WORDS.get(number, f"signal {number}")
            return f"Runtime exited with error: signal: {name}"
        try:
            code = os.waitstatus_to_exitcode(status)
        except ValueError:  # not an exit status at all: say what we know
            return f"Runtime exited with error: status {status}"
        if code == 0:
            return "Runtime exited without providing a reason"
        return f"Runtime exited with error: exit status {code}"

    def kill(self) -> None:
        self.doomed = True
        if self.pid and self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def expire(self) -> None:
        """The invocation's deadline passed: kill the whole environment."""
        self.timed_out = True
        self.kill()

    def tasks(self) -> list[int]:
        """Its threads and its processes' (for CPU placement)."""
        found = self.cgroup.tasks() if self.cgroup else []
        return found or (placement.threads(self.pid) if self.pid else [])

    def max_memory_mb(self) -> int:
        """Peak memory of the environment (cgroup peak; VmHWM when there are no cgroups)."""
        if not self.alive:
            return self._final_peak_mb
        peak = self.cgroup.peak_memory_bytes() if self.cgroup else 0
        if not peak and self.pid and self.alive:
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = int(line.split()[1]) * 1024
        return math.ceil(peak / (1024 * 1024))

    def oom_killed(self) -> bool:
        if not self.alive:
            return self._final_oom
        return bool(self.cgroup and self.cgroup.oom_killed())
