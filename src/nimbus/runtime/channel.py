"""Framing of Nimbus' private runtime channel (a Unix socketpair per environment).

It carries exactly the Runtime API's messages (next / response / error /
init-error) without HTTP: one frame is
    kind (1 byte) | header length (4, big-endian) | body length (4) | header JSON | body
Engine -> environment: INVOKE. Environment -> engine: READY (the first /next),
INIT_ERROR, RESPONSE, ERROR (the later /next is implied by the reply).
"""

import json
import struct

INVOKE = b"I"
READY = b"R"
INIT_ERROR = b"X"
RESPONSE = b"O"
ERROR = b"E"

PREFIX = struct.Struct(">cII")


def encode(kind, header, body=b""):
    head = json.dumps(header, separators=(",", ":")).encode() if header else b""
    return PREFIX.pack(kind, len(head), len(body)) + head + body


def _recv_exact(sock, size):
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            raise EOFError("runtime channel closed")
        got += n
    return bytes(buf)


class FrameReader:
    """Reads frames off the channel: one recv for a whole small frame (the usual event),
    exact reads for the rest of a large one."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def receive(self):
        """Blocking read of one frame -> (kind, header dict, body bytes)."""
        data = self.buffer
        while len(data) < PREFIX.size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("runtime channel closed")
            data += chunk
        kind, head_len, body_len = PREFIX.unpack_from(data)
        end = PREFIX.size + head_len + body_len
        if len(data) < end:
            data += _recv_exact(self.sock, end - len(data))
        self.buffer = data[end:]
        head = data[PREFIX.size : PREFIX.size + head_len]
        return kind, (json.loads(head) if head else {}), data[PREFIX.size + head_len : end]


def receive(sock):
    """One frame from a socket that carries nothing else (no read-ahead)."""
    kind, head_len, body_len = PREFIX.unpack(_recv_exact(sock, PREFIX.size))
    head = _recv_exact(sock, head_len) if head_len else b""
    body = _recv_exact(sock, body_len) if body_len else b""
    return kind, (json.loads(head) if head else {}), body
