"""Which requests an invoke cell serves itself: synchronous Invokes, framed by
Content-Length. Everything else goes to the primary, with its connection.

Pure: bytes in, a verdict out. Run on each request's head before it is parsed, so the
bytes of exactly one request are handed to the parser and the rest stay with the
connection (a request the cell passes on must reach the primary unread).
"""

from __future__ import annotations

import re

NEED_MORE = -1  # the head is not complete yet
HAND_OFF = -2  # not a request this cell serves (or not one it can frame)
MAX_HEAD = 65536  # a head longer than this goes to the primary, which answers it

_INVOKE = re.compile(rb"POST /2015-03-31/functions/[^/?\s]+/invocations(?:\?\S*)? HTTP/1\.1")
_LOCAL_TYPES = (b"", b"requestresponse", b"dryrun")


def classify(buffer: bytes | bytearray) -> int:
    """NEED_MORE, HAND_OFF, or the length in bytes of a synchronous Invoke at the start
    of `buffer` (its head and its Content-Length body)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return NEED_MORE if len(buffer) < MAX_HEAD else HAND_OFF
    line_end = buffer.find(b"\r\n")
    if not _INVOKE.fullmatch(buffer, 0, line_end):
        return HAND_OFF
    head = bytes(buffer[line_end : end + 2]).lower()  # "\r\nname: value" ... "\r\n"
    if b"\r\ntransfer-encoding:" in head or b"\r\nexpect:" in head:
        return HAND_OFF
    length = _value(head, b"\r\ncontent-length:")
    kind = _value(head, b"\r\nx-amz-invocation-type:")
    if length is None or not length.isdigit() or (kind or b"") not in _LOCAL_TYPES:
        return HAND_OFF
    return end + 4 + int(length)


def _value(head: bytes, name: bytes) -> bytes | None:
    """The one value of a header in a lower-cased head (None: absent; b"?": repeated)."""
    start = head.find(name)
    if start < 0:
        return None
    if head.find(name, start + len(name)) >= 0:
        return b"?"
    start += len(name)
    return head[start : head.find(b"\r\n", start)].strip()
