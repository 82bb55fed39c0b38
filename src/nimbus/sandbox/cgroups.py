"""Per-environment cgroups: memory = MemorySize, CPU proportional to memory, a pids cap.

cgroup v1 (one hierarchy per controller) and v2 (unified) are both supported;
the node's cgroups live under the cgroup the engine itself runs in.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000
MB_PER_VCPU = 1769  # AWS: 1,769 MB of memory buys one full vCPU
V1_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    pids: int = 1024

    @property
    def cpu_quota_us(self) -> int:
        return max(1000, math.ceil(CPU_PERIOD_US * self.memory_mb / MB_PER_VCPU))


def _own_path(controller: str) -> str:
    """This process's cgroup path for `controller` ("" = the v2 unified line)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller == "" and names == "") or controller in names.split(","):
            return path
    raise LookupError(controller)


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class EnvCgroup:
    """One environment's cgroup(s): one directory per v1 controller, or one v2 directory."""

    def __init__(self, dirs: dict[str, Path], version: int) -> None:
        self.dirs = dirs
        self.version = version
        self._peak_fd = -1  # kept open: read after every invocation (pread costs ~2 us)

    def peak_memory_bytes(self) -> int:
        try:
            if self._peak_fd < 0:
                name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
                self._peak_fd = os.open(self.dirs["memory"] / name, os.O_RDONLY | os.O_CLOEXEC)
            return int(os.pread(self._peak_fd, 32, 0))
        except (OSError, ValueError):
            return 0

    def tasks(self) -> list[int]:
        """Every thread in the cgroup: the runtime's, and those of processes it started."""
        name = "tasks" if self.version == 1 else "cgroup.threads"
        try:
            return [int(tid) for tid in (self.dirs["cpu"] / name).read_text().split()]
        except (OSError, ValueError, KeyError):
            return []

    def oom_killed(self) -> bool:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (self.dirs["memory"] / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except OSError:
            pass
        return False

    def destroy(self) -> None:
        """Kill whatever is left inside and remove the directories."""
        if self._peak_fd >= 0:
            os.close(self._peak_fd)
            self._peak_fd = -1
        for d in self.dirs.values():
            kill_file = d / "cgroup.kill"
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        break
                    if kill_file.exists():
                        with contextlib.suppress(OSError):
                            _write(kill_file, "1")
                    else:
                        for pid in (d / "cgroup.procs").read_text().split():
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(int(pid), signal.SIGKILL)
                    time.sleep(0.002)


class CgroupManager:
    """Creates the node's parent cgroup(s) and one child cgroup per environment."""

    def __init__(self, version: int, parents: dict[str, Path]) -> None:
        self.version = version
        self.parents = parents  # controller -> node directory (v2: "memory"/"cpu"/"pids" share)

    @classmethod
    def detect(cls, node_name: str) -> CgroupManager | None:
        """The manager for this host, or None if cgroups can't be managed here."""
        try:
            if (ROOT / "cgroup.controllers").exists():
                return cls._setup_v2(node_name)
            return cls._setup_v1(node_name)
        except (OSError, LookupError):
            return None

    @classmethod
    def _setup_v1(cls, node_name: str) -> CgroupManager:
        parents = {}
        for name in V1_CONTROLLERS:
            parent = ROOT / name / _own_path(name).lstrip("/") / node_name
            parent.mkdir(exist_ok=True)
            parents[name] = parent
        return cls(1, parents)

    @classmethod
    def _setup_v2(cls, node_name: str) -> CgroupManager:
        own = ROOT / _own_path("").lstrip("/")
        wanted = {"memory", "cpu", "pids"}
        if not wanted <= set((own / "cgroup.controllers").read_text().split()):
            raise LookupError("cgroup v2 controllers not delegated")
        try:
            _write(own / "cgroup.subtree_control", "+memory +cpu +pids")
        except OSError as e:
            # "No internal processes": move ourselves to a leaf, then enable.
            if e.errno != errno.EBUSY:
                raise
            leaf = own / "nimbus-supervisor"
            leaf.mkdir(exist_ok=True)
            for pid in (own / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    _write(leaf / "cgroup.procs", pid)
            _write(own / "cgroup.subtree_control", "+memory +cpu +pids")
        parent = own / node_name
        parent.mkdir(exist_ok=True)
        _write(parent / "cgroup.subtree_control", "+memory +cpu +pids")
        return cls(2, {name: parent for name in wanted})

    def limit_settings(self, limits: Limits) -> list[list[str]]:
        """[controller, file, value] triples the environment writes into its own cgroup."""
        memory = str(limits.memory_mb * 1024 * 1024)
        if self.version == 1:
            return [
                ["memory", "memory.limit_in_bytes", memory],
                ["cpu", "cpu.cfs_period_us", str(CPU_PERIOD_US)],
                ["cpu", "cpu.cfs_quota_us", str(limits.cpu_quota_us)],
                ["pids", "pids.max", str(limits.pids)],
            ]
        return [
            ["unified", "memory.max", memory],
            ["unified", "memory.swap.max", "0"],
            ["unified", "cpu.max", f"{limits.cpu_quota_us} {CPU_PERIOD_US}"],
            ["unified", "pids.max", str(limits.pids)],
        ]

    def adopt(self, name: str) -> EnvCgroup:
        """The cgroup a zygote made for one of its environments."""
        if self.version == 1:
            return EnvCgroup({c: parent / name for c, parent in self.parents.items()}, 1)
        d = self.parents["memory"] / name
        return EnvCgroup({"memory": d, "cpu": d, "pids": d}, 2)

    def mount_dirs(self) -> dict[str, str]:
        """Directories the zygote binds into its private area (one per hierarchy)."""
        if self.version == 1:
            return {name: str(path) for name, path in self.parents.items()}
        return {"unified": str(self.parents["memory"])}

    def remove_node(self) -> None:
        for parent in set(self.parents.values()):
            if not parent.is_dir():
                continue
            for child in parent.iterdir():
                if child.is_dir():
                    EnvCgroup({"x": child}, self.version).destroy()
            with contextlib.suppress(OSError):
                parent.rmdir()
