"""`nimbus doctor`'s host tuning hints: read from sysfs (a tree of real files here, and
this machine's own /sys), never changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nimbus.sandbox.tuning import CPUIDLE_DRIVER, HALT_POLL_NS, tuning_hints


def _sysfs(root: Path, driver: str | None, poll_ns: str | None) -> Path:
    if driver is not None:
        (root / CPUIDLE_DRIVER).parent.mkdir(parents=True)
        (root / CPUIDLE_DRIVER).write_text(driver + "\n")
    if poll_ns is not None:
        (root / HALT_POLL_NS).parent.mkdir(parents=True)
        (root / HALT_POLL_NS).write_text(poll_ns + "\n")
    return root


def test_halt_polling_off_in_a_kvm_guest_is_named_with_the_fix(tmp_path: Path) -> None:
    [hint] = tuning_hints(_sysfs(tmp_path, "haltpoll", "0"))
    assert "halt polling is off" in hint
    assert "echo 200000 > /sys/module/haltpoll/parameters/guest_halt_poll_ns" in hint


@pytest.mark.parametrize(
    ("driver", "poll_ns"),
    [
        ("haltpoll", "200000"),  # already on
        ("intel_idle", "0"),  # not the haltpoll driver: the parameter does nothing
        (None, None),  # not a KVM guest
        ("haltpoll", None),
        ("haltpoll", "garbage"),
    ],
)
def test_nothing_to_suggest(tmp_path: Path, driver: str | None, poll_ns: str | None) -> None:
    assert tuning_hints(_sysfs(tmp_path, driver, poll_ns)) == []


def test_doctor_reports_this_hosts_tuning() -> None:
    """On this machine's real /sys: the same verdict from the function and the command."""
    expected = tuning_hints()
    real = Path("/sys") / HALT_POLL_NS
    if real.exists() and (Path("/sys") / CPUIDLE_DRIVER).read_text().strip() == "haltpoll":
        assert bool(expected) == (int(real.read_text()) == 0)
    done = subprocess.run(
        [sys.executable, "-m", "nimbus.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "Host tuning:" in done.stdout
    assert ("halt polling is off" in done.stdout) == bool(expected)


def test_doctor_reports_isolation_runtimes_and_placement() -> None:
    """The isolation table names every feature with its state (and why one is missing),
    the runtimes with their interpreters, and the CPU placement with measured wake-ups."""
    from nimbus.engine.runtimes import RuntimeRegistry

    done = subprocess.run(
        [sys.executable, "-m", "nimbus.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin", "NIMBUS_CPU_PLACEMENT": "pinned"},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for feature in (
        "mount/pid/ipc/uts namespaces",
        "cgroups (memory, CPU, pids)",
        "seccomp filter",
        "own unprivileged uid per environment",
        "Landlock scopes",
    ):
        row = next(line for line in out.splitlines() if feature in line)
        assert ("active" in row) != ("missing" in row), row
    if "missing" in out.split("Runtimes")[0]:
        assert "! " in out  # each missing feature says why
    for runtime, path in RuntimeRegistry().available().items():
        row = next(line for line in out.splitlines() if f" {runtime} " in line)
        assert (path or "not installed") in row
    if len(os.sched_getaffinity(0)) > 1:
        assert "CPU placement: pinned: server and short invocations on CPU" in out
        assert "µs round trip on one CPU" in out and "across CPUs" in out
