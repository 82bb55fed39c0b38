"""What the cells of one server share in memory: a file in the run directory, mapped by
every cell process (`nimbus server --cells N`, see cells/__init__.py).

Layout, 8-byte little-endian slots: [0] the functions generation, bumped by the primary
after every committed change of a function record; [1 + i] invocations in flight in cell
i (each cell writes only its own slot, so no slot has two writers and no lock is needed:
aligned 8-byte loads and stores are atomic on every CPU Nimbus runs on).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

SLOT = 8


class SharedState:
    def __init__(self, path: Path, cells: int, create: bool = False) -> None:
        self.path = path
        self.cells = cells
        size = SLOT * (1 + cells)
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT | os.O_TRUNC if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._slots = memoryview(self._map).cast("Q")

    @property
    def generation(self) -> int:
        return int(self._slots[0])

    def bump_generation(self) -> None:
        self._slots[0] += 1

    def set_in_flight(self, cell: int, count: int) -> None:
        self._slots[1 + cell] = count

    def in_flight_elsewhere(self, cell: int) -> int:
        """Invocations in flight in every other cell (the account-wide limit counts all)."""
        return sum(self._slots[1:]) - int(self._slots[1 + cell])

    def close(self) -> None:
        self._slots.release()
        self._map.close()
