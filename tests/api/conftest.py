"""End-to-end fixtures: a real `nimbus server` subprocess driven by boto3 and the AWS CLI."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e import NimbusServer, create, unique


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NimbusServer]:
    """One server for the whole session."""
    running = NimbusServer(tmp_path_factory.mktemp("api") / "data").start()
    yield running
    status = running.stop()
    assert running.stopped_cleanly, f"nimbus server exited {status} on SIGTERM:\n{running.log()}"


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., NimbusServer]]:
    """Private servers for a test (restarts, other options); all stopped at the end."""
    made: list[NimbusServer] = []

    def factory(data_dir: Path | None = None, start: bool = True, **options: Any) -> NimbusServer:
        instance = NimbusServer(data_dir or tmp_path / f"data{len(made)}", **options)
        made.append(instance)
        return instance.start() if start else instance

    yield factory
    for instance in made:
        if instance.process is not None:
            instance.stop()


@pytest.fixture(scope="session")
def lam(server: NimbusServer) -> Any:
    """A boto3 Lambda client of the session server."""
    return server.client(max_pool_connections=32)


@pytest.fixture(scope="session")
def echo(lam: Any) -> str:
    """A function of APP shared by tests that only invoke it."""
    name: str = create(lam, unique("echo"))["FunctionName"]
    return name


@pytest.fixture(scope="session")
def isolated() -> bool:
    """Whether environments get their own /tmp etc. (root, isolation not turned off)."""
    return os.geteuid() == 0 and os.environ.get("NIMBUS_ISOLATION", "auto") != "none"


@pytest.fixture(scope="session")
def sqs(server: NimbusServer) -> Any:
    """A boto3 SQS client of the session server."""
    return server.client("sqs", max_pool_connections=32)
