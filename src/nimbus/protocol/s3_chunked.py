"""Decoding of S3's aws-chunked bodies (Content-Encoding: aws-chunked), incrementally:

    <hex size>[;chunk-signature=<64 hex>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=...]\\r\\n
    [<trailer>:<value>\\r\\n ...]\\r\\n

as sent with x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) or
STREAMING-UNSIGNED-PAYLOAD-TRAILER. Trailers carry x-amz-checksum-* (and
x-amz-trailer-signature). Chunk signatures are collected, not verified here.
"""

from __future__ import annotations

MAX_LINE = 4096


class ChunkedError(ValueError):
    """The body is not valid aws-chunked encoding."""


class ChunkedDecoder:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._left = 0  # data bytes still to come in the current chunk
        self._state = "size"  # size | data | crlf | trailer | done
        self.trailers: dict[str, str] = {}
        self.signatures: list[str] = []
        self.decoded = 0

    @property
    def done(self) -> bool:
        return self._state == "done"

    def feed(self, data: bytes) -> list[bytes]:
        """The payload bytes that `data` completes (possibly none)."""
        if self._state == "done":
            if data.strip(b"\r\n"):
                raise ChunkedError("data after the final chunk")
            return []
        self._buf += data
        out: list[bytes] = []
        pos = 0
        buf = self._buf
        while pos < len(buf) and self._state != "done":
            if self._state == "data":
                take = min(self._left, len(buf) - pos)
                out.append(bytes(buf[pos : pos + take]))
                pos += take
                self._left -= take
                self.decoded += take
                if self._left == 0:
                    self._state = "crlf"
                continue
            if self._state == "crlf":
                if len(buf) - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise ChunkedError("chunk data not followed by CRLF")
                pos += 2
                self._state = "size"
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if len(buf) - pos > MAX_LINE:
                    raise ChunkedError("chunk header line too long")
                break
            line = bytes(buf[pos:end]).decode("latin-1")
            pos = end + 2
            if self._state == "size":
                self._size_line(line)
            else:
                self._trailer_line(line)
        del self._buf[:pos]
        return out

    def _size_line(self, line: str) -> None:
        size_text, _, extension = line.partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise ChunkedError(f"bad chunk size {size_text[:20]!r}") from None
        if size < 0:
            raise ChunkedError("negative chunk size")
        name, _, value = extension.partition("=")
        if name.strip() == "chunk-signature":
            self.signatures.append(value.strip())
        self._left = size
        self._state = "data" if size else "trailer"

    def _trailer_line(self, line: str) -> None:
        if not line:
            self._state = "done"
            return
        name, colon, value = line.partition(":")
        if not colon:
            raise ChunkedError(f"bad trailer line {line[:40]!r}")
        self.trailers[name.strip().lower()] = value.strip()

    def finish(self) -> None:
        """The body ended: raise unless it ended where the encoding does."""
        if self._state == "trailer" and not self._buf:
            self._state = "done"  # some clients end right after the last chunk's CRLF
        if self._state != "done":
            raise ChunkedError("the body ended inside a chunk")
