"""Physical floors measured on this machine, in the same run as the benchmarks."""

from __future__ import annotations

import os
import socket
import statistics
import time


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(samples_ms),
        "p99_ms": percentile(samples_ms, 0.99),
        "n": len(samples_ms),
    }


def fork_and_reply(n: int = 200) -> dict[str, float]:
    """fork() this (already imported) interpreter; the child writes one byte back and exits."""
    samples = []
    for _ in range(n):
        r, w = os.pipe()
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.write(w, b"x")
            os._exit(0)
        os.read(r, 1)
        samples.append((time.perf_counter() - t) * 1000)
        os.waitpid(pid, 0)
        os.close(r)
        os.close(w)
    return summary(samples)


def unix_round_trip(n: int = 5000) -> dict[str, float]:
    """A 1-byte ping-pong between two processes over a Unix socketpair."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        a.close()
        while data := b.recv(64):
            b.sendall(data)
        os._exit(0)
    b.close()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        a.sendall(b"x")
        a.recv(64)
        samples.append((time.perf_counter() - t) * 1000)
    a.close()
    os.waitpid(pid, 0)
    return summary(samples)
