"""The cells' shared memory: one writer per slot, every cell sees every slot."""

from __future__ import annotations

from pathlib import Path

from nimbus.cells.shared import SharedState


def test_generation_and_in_flight_are_seen_by_every_mapping(tmp_path: Path) -> None:
    primary = SharedState(tmp_path / "cells.shm", 3, create=True)
    cell = SharedState(tmp_path / "cells.shm", 3)
    assert (primary.generation, cell.generation) == (0, 0)
    primary.bump_generation()
    primary.bump_generation()
    assert cell.generation == 2
    primary.set_in_flight(0, 5)
    cell.set_in_flight(1, 7)
    assert cell.in_flight_elsewhere(1) == 5 and primary.in_flight_elsewhere(0) == 7
    assert primary.in_flight_elsewhere(2) == 12
    cell.close()
    primary.close()
    assert (tmp_path / "cells.shm").stat().st_mode & 0o777 == 0o600
