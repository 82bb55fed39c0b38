"""The primary deals new connections out to the cells, round robin over every cell that
is up (it keeps them itself only while none is). Only the primary listens: the port is
one process' (a second server on it fails to bind, as without cells), and a cell that
dies loses only its connections.

A connection given away is passed before anything is read from it; the cell serves it
(protocol.py) or, at its first request that is not a synchronous Invoke, gives it back.
"""

from __future__ import annotations

import os
from typing import Any

from nimbus.cells.handoff import HandoffSender
from nimbus.http_protocol import HttpProtocol


class Distributor:
    def __init__(self) -> None:
        self.cells: list[HandoffSender] = []
        self._turn = 0

    def pick(self) -> HandoffSender | None:
        """The cell that gets the next connection; None: the primary keeps it."""
        ready = [cell for cell in self.cells if cell.ready]
        if not ready:
            return None
        self._turn = (self._turn + 1) % len(ready)
        return ready[self._turn]


class DistributingProtocol(HttpProtocol):
    """The primary's protocol for connections it accepts: most go straight to a cell."""

    def __init__(self, *args: Any, distributor: Distributor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.distributor = distributor

    def connection_made(self, transport: Any) -> None:
        cell = self.distributor.pick()
        if cell is None:
            super().connection_made(transport)
            return
        self.transport = transport
        fd = os.dup(transport.get_extra_info("socket").fileno())
        transport.pause_reading()
        cell.pass_connection(fd, b"")
        transport.close()  # our descriptor only: the cell has the connection now
