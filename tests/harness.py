"""Test helpers: a real engine on a background event loop, functions from source text.

(A module, not conftest: every test directory may have its own conftest.)
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import textwrap
import threading
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nimbus.config import EngineConfig
from nimbus.engine.engine import Engine
from nimbus.models import FunctionSpec, Invocation, InvokeResult
from nimbus.obs.logs import LogStore
from nimbus.obs.metering import MeteringLog
from nimbus.sandbox.placement import CpuPlacement

T = TypeVar("T")
ACCOUNT = "000000000000"


class EngineHarness:
    """An Engine running on its own loop thread, driven synchronously from tests."""

    instances = 0

    def __init__(
        self, data_dir: Path, placement: CpuPlacement | None = None, **config: Any
    ) -> None:
        # Engines in one process must not hand out the same sandbox uids.
        EngineHarness.instances += 1
        config.setdefault("sandbox_uid_base", 990_000 + 1000 * EngineHarness.instances)
        config.setdefault("sandbox_uid_count", 1000)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.config = EngineConfig(data_dir=data_dir, **config)
        self.logs = LogStore(data_dir / "logs")
        self.metering = MeteringLog(data_dir / "metering.jsonl")
        self.engine = Engine(self.config, self.logs, self.metering, placement)
        self.run(self.engine.start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def deploy(
        self,
        source: str | dict[str, str],
        handler: str = "app.handler",
        runtime: str = "python3.12",
        name: str | None = None,
        **fields: Any,
    ) -> FunctionSpec:
        """Write the code into the code store and describe the function."""
        name = name or f"fn-{uuid.uuid4().hex[:8]}"
        files = {"app.py": source} if isinstance(source, str) else source
        code = self.config.code_dir / name / uuid.uuid4().hex[:8]
        for rel, text in files.items():
            path = code / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
            if rel == "bootstrap":
                path.chmod(0o755)
        for folder in [code, *[p for p in code.rglob("*") if p.is_dir()]]:
            folder.chmod(0o755)
        return FunctionSpec(
            name=name,
            arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
            runtime=runtime,
            handler=handler,
            code_dir=str(code),
            revision=uuid.uuid4().hex,
            **fields,
        )

    def invoke(self, spec: FunctionSpec, payload: bytes = b"{}", **fields: Any) -> InvokeResult:
        invocation = Invocation(request_id=str(uuid.uuid4()), payload=payload, **fields)
        return self.run(self.engine.invoke(spec, invocation))

    def invoke_many(
        self, spec: FunctionSpec, events: list[Any], concurrency: int = 8
    ) -> list[InvokeResult]:
        """Invoke once per event (JSON), `concurrency` at a time; results in event order."""

        async def all_of() -> list[InvokeResult]:
            gate = asyncio.Semaphore(concurrency)

            async def one(event: Any) -> InvokeResult:
                async with gate:
                    invocation = Invocation(
                        request_id=str(uuid.uuid4()), payload=json.dumps(event).encode()
                    )
                    return await self.engine.invoke(spec, invocation)

            return list(await asyncio.gather(*(one(e) for e in events)))

        return self.run(all_of(), timeout=120)

    def close(self) -> None:
        self.run(self.engine.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.metering.close()


requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="isolation needs root")


def installed_pythons() -> list[str]:
    from nimbus.engine.runtimes import RuntimeRegistry
    from nimbus.errors import RuntimeNotInstalled

    found = []
    for runtime in ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13"):
        try:
            RuntimeRegistry().interpreter(runtime)
            found.append(runtime)
        except RuntimeNotInstalled:
            pass
    return found


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)
