"""Small per-account maps kept in one JSON file (routes, function URLs): read whole at
start, rewritten atomically (temp file, fsync, rename) on every change."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson


def load_accounts(path: Path) -> dict[str, dict[str, Any]]:
    """{account: {key: value}} from `path`; empty when the file does not exist yet."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    accounts = data.get("accounts", {}) if isinstance(data, dict) else {}
    return {a: dict(m) for a, m in accounts.items() if isinstance(m, dict)}


def save_accounts(path: Path, accounts: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = orjson.dumps({"accounts": accounts}, option=orjson.OPT_INDENT_2)
    with open(temp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
