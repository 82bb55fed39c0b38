"""Configuration of a Nimbus node (engine part). Environment variables override defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass(frozen=True)
class EngineConfig:
    data_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("NIMBUS_DATA_DIR", "~/.nimbus")).expanduser()
    )
    account_id: str = "000000000000"
    region: str = "us-east-1"
    # Concurrency: the account-wide limit and how long idle environments live.
    concurrency_limit: int = field(default_factory=lambda: _env_int("NIMBUS_CONCURRENCY", 1000))
    keep_alive_s: float = field(default_factory=lambda: _env_float("NIMBUS_KEEP_ALIVE", 600.0))
    reap_interval_s: float = 5.0
    # Live environments (idle + busy) on this node; beyond it the least recently used
    # idle environment is destroyed to make room.
    max_environments: int = field(default_factory=lambda: _env_int("NIMBUS_MAX_ENVIRONMENTS", 1000))
    # Cold starts (INITs) of one function version running at once; 0: twice the CPUs. More
    # requests wait for a released environment or a free start slot, whichever comes first.
    init_concurrency: int = field(default_factory=lambda: _env_int("NIMBUS_INIT_CONCURRENCY", 0))
    # Isolation: "auto" (full where the host allows, loud warning otherwise), "full", "none".
    isolation: str = field(default_factory=lambda: os.environ.get("NIMBUS_ISOLATION", "auto"))
    # Each environment runs as its own unprivileged uid taken from this range.
    sandbox_uid_base: int = 990_000
    sandbox_uid_count: int = 10_000
    # The run directory's own subdirectory: each cell of a server has one (cells/).
    run_name: str = ""
    pids_limit: int = 1024
    nofile_limit: int = 1024
    # Explicit interpreter paths, e.g. {"python3.12": "/opt/py312/bin/python3.12"};
    # also NIMBUS_RUNTIME_PYTHON3_12=/path.
    runtime_paths: dict[str, str] = field(default_factory=dict)
    # Prices for usage reports: AWS x86 in us-east-1 unless NIMBUS_PRICE_PER_MILLION_REQUESTS
    # / NIMBUS_PRICE_PER_GB_SECOND say otherwise (`nimbus usage` can override per report).
    price_per_request: float = field(
        default_factory=lambda: _env_float("NIMBUS_PRICE_PER_MILLION_REQUESTS", 0.20) / 1e6
    )
    price_per_gb_second: float = field(
        default_factory=lambda: _env_float("NIMBUS_PRICE_PER_GB_SECOND", 0.0000166667)
    )

    @property
    def code_dir(self) -> Path:
        return self.data_dir / "code"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run" / self.run_name if self.run_name else self.data_dir / "run"
