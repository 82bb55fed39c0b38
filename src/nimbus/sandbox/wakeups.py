"""What waking another process costs on this host, on the same CPU and across CPUs.

Every invocation is a round trip between the event loop and an environment, so this is
the host fact that decides Nimbus' CPU placement (placement.py). `nimbus doctor` shows
it; nothing measures it on the hot path.
"""

from __future__ import annotations

import os
import socket
import time

ROUNDS = 300


def round_trip_us(cpu_a: int, cpu_b: int, rounds: int = ROUNDS) -> float:
    """Median µs of a 1-byte ping-pong between two processes pinned to cpu_a / cpu_b."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the echoing child
        try:
            ours.close()
            os.sched_setaffinity(0, {cpu_b})
            while theirs.recv(1):
                theirs.send(b"x")
        finally:
            os._exit(0)
    theirs.close()
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpu_a})
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            ours.send(b"x")
            ours.recv(1)
            times.append(time.perf_counter() - started)
    finally:
        os.sched_setaffinity(0, before)
        ours.close()
        os.waitpid(pid, 0)
    return sorted(times)[len(times) // 2] * 1e6


def same_and_cross_cpu() -> tuple[float, float] | None:
    """(same-CPU, cross-CPU) round trips in µs; None with a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return round_trip_us(cpus[-1], cpus[-1]), round_trip_us(cpus[-1], cpus[0])
