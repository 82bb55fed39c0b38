"""Shared fixtures (helpers live in harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import EngineHarness


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineHarness]:
    harness = EngineHarness(tmp_path_factory.mktemp("nimbus"))
    yield harness
    harness.close()


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[Any]:
    """A private engine with custom configuration (limits, keep-alive ...)."""
    made: list[EngineHarness] = []

    def factory(**config: Any) -> EngineHarness:
        harness = EngineHarness(tmp_path / f"e{len(made)}", **config)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()
