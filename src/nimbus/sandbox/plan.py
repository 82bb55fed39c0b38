"""The sandbox plan: what the zygote's template root holds and how each environment is confined."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nimbus.runtime

RUNTIME_DIR = Path(nimbus.runtime.__file__).resolve().parent
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc")
HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")


def interpreter_prefix(interpreter: str) -> str:
    """The install prefix of an interpreter (`.../bin/python3.12` -> `...`)."""
    return str(Path(os.path.realpath(interpreter)).parent.parent)


def rootfs_spec(
    mountpoint: Path,
    interpreter: str,
    code_store: Path,
    cgroup_dirs: dict[str, str],
    sdk: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """`sdk`: (host folder, path inside) of the AWS SDK bound read-only into every root."""
    prefix = interpreter_prefix(interpreter)
    binds = list(SYSTEM_DIRS)
    if not any(prefix == d or prefix.startswith(d + "/") for d in SYSTEM_DIRS):
        binds.append(prefix)
    return {
        "root": str(mountpoint),
        "ro_binds": binds,
        "hide": list(HIDDEN_FILES),
        "runtime_dir": str(RUNTIME_DIR),
        "code_store": str(code_store),
        "cgroups": cgroup_dirs,
        "sdk": list(sdk) if sdk else None,
    }


def confine_spec(
    code_rel: str,
    uid: int,
    tmp_mb: int,
    cgroup_limits: list[list[str]],
    nofile: int,
    nproc: int,
) -> dict[str, Any]:
    return {
        "code": code_rel,
        "uid": uid,
        "tmp_mb": tmp_mb,
        "cgroup_limits": cgroup_limits,
        "nofile": nofile,
        "nproc": nproc,
        "hostname": "localhost",
    }
