"""Decoding of S3's aws-chunked bodies (Content-Encoding: aws-chunked), incrementally:

    <hex size>[;chunk-signature=<64 hex>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=...]\\r\\n
    [<trailer>:<value>\\r\\n ...]\\r\\n

as sent with x-amz-content-sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) or
STREAMING-UNSIGNED-PAYLOAD-TRAILER. Trailers carry x-amz-checksum-* (and
x-amz-trailer-signature). With a ChunkSigner, each chunk's signature is checked (it chains
from the request's own signature), and so is the trailer's.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

MAX_LINE = 4096
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class ChunkedError(ValueError):
    """The body is not valid aws-chunked encoding."""


class ChunkSignatureMismatch(ChunkedError):
    """A chunk's signature is not the one its data and the chain call for."""


@dataclass
class ChunkSigner:
    """SigV4 chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): each signs the previous
    one, the chunk's SHA-256 and the request's date and scope."""

    key: bytes  # the SigV4 signing key of the request's date/region/service
    amz_date: str
    scope: str  # YYYYMMDD/region/service/aws4_request
    previous: str  # starts as the Authorization header's signature

    def check(self, signature: str, data_sha256: str) -> None:
        string_to_sign = "\n".join(
            ("AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, self.previous,
             _EMPTY_SHA256, data_sha256)
        )  # fmt: skip
        expected = hmac.new(self.key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ChunkSignatureMismatch("chunk signature mismatch")
        self.previous = signature

    def check_trailer(self, signature: str, trailer_lines: list[str]) -> None:
        """The trailer's signature: over its lines ("name:value\n" each), chained from the
        final chunk's signature."""
        digest = hashlib.sha256("".join(f"{line}\n" for line in trailer_lines).encode())
        string_to_sign = "\n".join(
            ("AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, self.previous,
             digest.hexdigest())
        )  # fmt: skip
        expected = hmac.new(self.key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise ChunkSignatureMismatch("trailer signature mismatch")


class ChunkedDecoder:
    def __init__(self, signer: ChunkSigner | None = None) -> None:
        self._signer = signer
        self._chunk_hash = hashlib.sha256() if signer else None
        self._chunk_signature = ""
        self._buf = bytearray()
        self._left = 0  # data bytes still to come in the current chunk
        self._state = "size"  # size | data | crlf | trailer | done
        self.trailers: dict[str, str] = {}
        self._trailer_lines: list[str] = []  # as sent, for the trailer's signature
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
                piece = bytes(buf[pos : pos + take])
                out.append(piece)
                if self._chunk_hash is not None:
                    self._chunk_hash.update(piece)
                pos += take
                self._left -= take
                self.decoded += take
                if self._left == 0:
                    self._end_chunk()
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
        signature = value.strip() if name.strip() == "chunk-signature" else ""
        if signature:
            self.signatures.append(signature)
        elif self._signer is not None:
            raise ChunkSignatureMismatch("a chunk without its signature")
        self._chunk_signature = signature
        self._left = size
        self._state = "data" if size else "trailer"
        if not size:
            self._end_chunk()

    def _end_chunk(self) -> None:
        if self._signer is None or self._chunk_hash is None:
            return
        self._signer.check(self._chunk_signature, self._chunk_hash.hexdigest())
        self._chunk_hash = hashlib.sha256()

    def _trailer_line(self, line: str) -> None:
        if not line:
            self._end_trailer()
            return
        name, colon, value = line.partition(":")
        if not colon:
            raise ChunkedError(f"bad trailer line {line[:40]!r}")
        self.trailers[name.strip().lower()] = value.strip()
        if name.strip().lower() != "x-amz-trailer-signature":
            self._trailer_lines.append(line)

    def _end_trailer(self) -> None:
        self._state = "done"
        if self._signer is None or not self._trailer_lines:
            return
        signature = self.trailers.get("x-amz-trailer-signature")
        if signature is None:  # trailers nobody signed were added on the way
            raise ChunkSignatureMismatch("unsigned trailer")
        self._signer.check_trailer(signature, self._trailer_lines)

    def finish(self) -> None:
        """The body ended: raise unless it ended where the encoding does."""
        if self._state == "trailer" and not self._buf:
            self._end_trailer()  # some clients end right after the last chunk's CRLF
        if self._state != "done":
            raise ChunkedError("the body ended inside a chunk")
