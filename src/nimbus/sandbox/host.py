"""What isolation this host can give (for `nimbus doctor` and the engine's choice)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nimbus.runtime import landlock


@dataclass
class IsolationReport:
    namespaces: bool = False  # mount/pid/ipc/uts namespaces + pivot_root (needs root)
    cgroups: str | None = None  # "v1" | "v2" | None
    seccomp: bool = False
    uid_switch: bool = False
    landlock: bool = False  # abstract unix sockets and signals scoped to the sandbox
    missing: list[str] = field(default_factory=list)  # what is not active, and why

    @property
    def full(self) -> bool:
        return self.namespaces and self.cgroups is not None and self.seccomp and self.uid_switch

    def summary(self) -> str:
        parts = [
            f"namespaces={'on' if self.namespaces else 'off'}",
            f"cgroups={self.cgroups or 'off'}",
            f"seccomp={'on' if self.seccomp else 'off'}",
            f"uid-switch={'on' if self.uid_switch else 'off'}",
            f"landlock={'on' if self.landlock else 'off'}",
        ]
        return " ".join(parts)


def probe(cgroups_version: int | None) -> IsolationReport:
    """Inspect the host; `cgroups_version` is what the cgroup manager managed to set up."""
    report = IsolationReport()
    root = os.geteuid() == 0
    if not sys.platform.startswith("linux"):
        report.missing.append("not Linux: no namespaces, cgroups or seccomp")
        return report
    if root:
        report.namespaces = True
        report.uid_switch = True
    else:
        report.missing.append(
            "not running as root: environments share the host's filesystem view, pid space "
            "and uid (run `sudo nimbus server` for full isolation)"
        )
    if cgroups_version:
        report.cgroups = f"v{cgroups_version}"
    else:
        report.missing.append(
            "cgroups not writable: no memory/CPU/pids limits, Max Memory Used is not measured "
            "(run as root, or delegate a cgroup v2 subtree with memory, cpu and pids)"
        )
    status = Path("/proc/self/status").read_text()
    if "Seccomp:" in status and root:
        report.seccomp = True
    elif "Seccomp:" not in status:
        report.missing.append("kernel without seccomp: dangerous system calls are not filtered")
    if landlock.supported():  # type: ignore[no-untyped-call]
        report.landlock = root
    else:
        report.missing.append(
            "kernel without Landlock ABI 6 (Linux >= 6.12): environments can connect to the "
            "host's abstract unix sockets"
        )
    report.missing.append(
        "no network namespace per environment (yet): functions share the host's network, "
        "including services bound to its loopback"
    )
    return report
