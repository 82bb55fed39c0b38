"""An invoke cell's connections: HTTP/1.1 (http_protocol.py) with a gate in front.

Each request's head is looked at before it is parsed (gate.py): a synchronous Invoke is
parsed and served here, one request at a time; anything else, or an Invoke the cell's
app declines (HandOff), hands the connection to the primary: the socket (a duplicate of
its descriptor) and every byte read from it that no response has answered yet. From then
on the connection is the primary's; this process closes its own descriptor, which leaves
the TCP connection open.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Protocol

from nimbus.cells import gate
from nimbus.http_cycle import Cycle
from nimbus.http_protocol import HttpProtocol

SCOPE_KEY = "nimbus.cell"  # the scope's reference to its connection (for HandOff)


class HandOff(BaseException):
    """Raised by a cell's app: this request is the primary's to answer."""


class Handoffs(Protocol):
    def pass_connection(self, fd: int, data: bytes) -> None:
        """Send `fd` (then close it) and `data` to the primary."""
        ...


class CellProtocol(HttpProtocol):
    def __init__(self, *args: Any, handoffs: Handoffs, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handoffs = handoffs
        self.unread = bytearray()  # received, not given to the parser yet
        self.current = b""  # the bytes of the request being served
        self.busy = False
        self.handed_off = False

    def data_received(self, data: bytes) -> None:
        if self.handed_off:
            return
        self.unread += data
        if self.busy:
            if len(self.unread) > gate.MAX_HEAD:
                self.pause_reading()  # pipelined: the next request waits for this answer
            return
        self._next()

    def _next(self) -> None:
        verdict = gate.classify(self.unread)
        if verdict == gate.NEED_MORE:
            return
        if verdict == gate.HAND_OFF:
            self.hand_off()
            return
        if len(self.unread) < verdict:
            return  # the rest of the body is on its way
        self.current = bytes(self.unread[:verdict])
        del self.unread[:verdict]
        self.busy = True
        super().data_received(self.current)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.scope[SCOPE_KEY] = self

    def response_complete(self, cycle: Cycle) -> None:
        super().response_complete(cycle)
        self.busy, self.current = False, b""
        if self.unread and not self.transport.is_closing():
            self._next()

    def hand_off(self) -> None:
        """Give the connection, and what it sent that is not answered, to the primary."""
        if self.handed_off or self.transport.is_closing():
            return
        self.handed_off = True
        self.transport.pause_reading()
        data = self.current + bytes(self.unread)
        sock = self.transport.get_extra_info("socket")
        fd = os.dup(sock.fileno())
        if self.cycle is not None:
            self.cycle.disconnected = True  # its task ends without answering (nor a 500)
        self.handoffs.pass_connection(fd, data)
        self.transport.close()  # our descriptor only: the connection stays open


def declined(scope: dict[str, Any]) -> None:
    """What a cell's app does with a HandOff: the request's connection goes."""
    connection = scope.get(SCOPE_KEY)
    if isinstance(connection, CellProtocol):
        connection.hand_off()


__all__ = ["CellProtocol", "HandOff", "asyncio", "declined"]
