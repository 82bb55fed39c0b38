"""CPU placement: the server, and the environments it is talking to, share one CPU.

An invocation is a round trip: event loop -> environment -> event loop. On the KVM guests
Nimbus is measured on, waking a process that sleeps on another CPU costs ~14x a switch on
the same CPU (a socket ping-pong: 91 µs across CPUs, 6.4 µs on one; `nimbus doctor`
measures this host). For short invocations that round trip is most of the work, so:

- `nimbus server` runs on one "hot" CPU (all its threads, and the zygotes it starts,
  whose environments inherit it);
- an environment whose invocation runs longer than RELEASE_AFTER_S (its INIT longer than
  INIT_RELEASE_AFTER_S) is spread over every CPU at once: CPU-heavy or slow code gets the
  whole machine and never holds the server's CPU; after REPIN_AFTER short invocations in a
  row it comes back.

Setting affinity is one system call per thread, made only when an environment changes
side. This is NIMBUS_CPU_PLACEMENT=pinned, for low concurrency: at one connection it cut
Invoke's p50 by ~15% and the server's CPU per request by ~15% in paired runs here, while
at 8 and 64 connections it served a third fewer invocations (one CPU does the server's and
the environments' work). `spread` leaves placement to the kernel. The default, `auto`,
is `pinned` while invocations come one at a time and `spread` as soon as two overlap
(engine/placing.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RELEASE_AFTER_S = 0.005  # an invocation running longer is not short
INIT_RELEASE_AFTER_S = 0.05  # INIT takes a few ms even when light (imports, sandbox)
REPIN_AFTER = 3
MODES = ("auto", "spread", "pinned")
DEFAULT_MODE = "auto"


@dataclass(frozen=True)
class CpuPlacement:
    hot: frozenset[int]  # the server's CPU, and short-running environments'
    spread: frozenset[int]  # every CPU the server may use
    adaptive: bool = False  # `auto`: pinned only while invocations come one at a time

    @classmethod
    def choose(cls, mode: str, allowed: Iterable[int] | None = None) -> CpuPlacement | None:
        """The placement for `mode`, or None (`spread`, or one CPU only)."""
        if mode not in MODES:
            raise ValueError(f"NIMBUS_CPU_PLACEMENT must be one of {', '.join(MODES)}: {mode!r}")
        cpus = frozenset(os.sched_getaffinity(0) if allowed is None else allowed)
        if mode == "spread" or len(cpus) < 2:
            return None
        return cls(frozenset({max(cpus)}), cpus, adaptive=mode == "auto")

    def pin_this_process(self) -> None:
        """Every thread of this process on the hot CPU (threads and children started later
        inherit it from the thread that starts them)."""
        set_affinity(threads(os.getpid()), self.hot)

    def pin(self, tasks: Iterable[int]) -> None:
        set_affinity(tasks, self.hot)

    def release(self, tasks: Iterable[int]) -> None:
        set_affinity(tasks, self.spread)

    def describe(self) -> str:
        pinned = (
            f"server and short invocations on CPU {_cpus(self.hot)}; environments running "
            f"over {RELEASE_AFTER_S * 1000:g} ms spread over CPUs {_cpus(self.spread)}"
        )
        if not self.adaptive:
            return pinned
        return f"while invocations come one at a time, {pinned}; else left to the kernel"


def set_affinity(tasks: Iterable[int], cpus: frozenset[int]) -> None:
    for tid in tasks:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # gone, or not ours
            os.sched_setaffinity(tid, cpus)


def threads(pid: int) -> list[int]:
    """Thread ids of a process (empty when it is gone)."""
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task")]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _cpus(cpus: frozenset[int]) -> str:
    ordered = sorted(cpus)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 1:
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(map(str, ordered))


def allowed_cpus(pid: int) -> str:
    """`Cpus_allowed_list` of a process, as /proc prints it (for tests and the doctor)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return ""
