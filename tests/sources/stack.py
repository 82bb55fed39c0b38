"""A real function stack for the gateway tests: engine, SQLite store, registry with deployed
functions, and an ASGI app served by a real uvicorn on the engine's loop."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from harness import ACCOUNT, EngineHarness, installed_pythons
from nimbus.models import FunctionRecord
from nimbus.services.registry import FunctionRegistry
from nimbus.store.sqlite import Database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def function_stack(
    data: Path, sources: dict[str, str], **fields: dict[str, Any]
) -> Iterator[tuple[EngineHarness, FunctionRegistry]]:
    """Deploy `sources` (name -> handler source) as Active functions; `fields[name]`
    overrides FunctionRecord fields of one function."""
    pythons = installed_pythons()
    if not pythons:
        pytest.skip("no Python runtime installed")
    harness = EngineHarness(data / "engine")
    db = harness.run(Database.open(data / "nimbus.db"))
    harness.run(db.ensure_account(ACCOUNT))
    registry = FunctionRegistry(db, harness.config.code_dir, "http://127.0.0.1:1", {})
    for name, source in sources.items():
        spec = harness.deploy(source, name=name, runtime=pythons[-1])
        record = FunctionRecord(
            account_id=ACCOUNT,
            region="us-east-1",
            name=name,
            runtime=pythons[-1],
            handler="app.handler",
            role=f"arn:aws:iam::{ACCOUNT}:role/r",
            code_sha256="x",
            code_size=1,
            code_key=os.path.relpath(spec.code_dir, harness.config.code_dir),
            state="Active",
            revision_id=uuid.uuid4().hex,
            **fields.get(name, {}),
        )
        assert harness.run(registry.insert(record))
    try:
        yield harness, registry
    finally:
        harness.run(db.close())
        harness.close()


@contextmanager
def serving(app: Any, harness: EngineHarness, port: int) -> Iterator[None]:
    """`app` under uvicorn on 127.0.0.1:`port`, running on the engine's event loop."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    running = asyncio.run_coroutine_threadsafe(server.serve(), harness.loop)
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and not running.done(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        running.result(15)
