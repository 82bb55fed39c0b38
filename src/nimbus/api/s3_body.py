"""Taking an S3 request body: streamed to a staging file (never whole in memory), decoded
from aws-chunked, and checked as it goes: the signed x-amz-content-sha256, Content-MD5,
x-amz-checksum-* (header or trailer), the declared length, the 5 GB limit."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path

from nimbus.api.s3 import S3Request
from nimbus.errors import (
    BadDigest,
    ContentSHA256Mismatch,
    EntityTooLarge,
    IncompleteBody,
    InvalidDigest,
    InvalidS3Request,
    InvalidSignature,
    MissingContentLength,
)
from nimbus.protocol import s3_checksums, sigv4
from nimbus.protocol.s3_chunked import (
    ChunkedDecoder,
    ChunkedError,
    ChunkSignatureMismatch,
    ChunkSigner,
)
from nimbus.store.s3_blobs import StagedWriter

MAX_OBJECT = 5 * 1024**3  # a single PUT
MAX_SMALL = 1024 * 1024  # XML request bodies


@dataclass
class Received:
    path: Path
    size: int
    md5: str  # hex: the ETag
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> base64, verified


@dataclass
class _Plan:
    sha256: str | None  # signed payload hash to check
    chunked: bool
    length: int | None  # payload length (decoded) if declared
    algorithms: tuple[str, ...]  # checksums to compute
    declared: dict[str, str]  # algorithm -> value from headers
    trailer: str | None  # algorithm whose value comes in the trailer
    md5: bytes | None  # Content-MD5


def _plan(request: S3Request, max_size: int) -> _Plan:
    headers = request.headers
    content_sha = headers.get("x-amz-content-sha256")
    signing = request.api.signing
    # S3 needs it with SigV4 header auth: it stands for the body in the signature.
    v4_header = signing is not None and signing.version == 4 and not signing.query_auth
    if content_sha is None and v4_header:
        raise InvalidS3Request("Missing required header for this request: x-amz-content-sha256")
    chunked = (content_sha or "").startswith("STREAMING-") or "aws-chunked" in headers.get(
        "content-encoding", ""
    )
    length_text = headers.get("x-amz-decoded-content-length") if chunked else None
    length_text = length_text or (None if chunked else headers.get("content-length"))
    if (
        length_text is None
        and not chunked
        and "chunked" not in headers.get("transfer-encoding", "")
    ):
        raise MissingContentLength()
    try:
        length = int(length_text) if length_text is not None else None
    except ValueError:
        raise InvalidS3Request("Invalid Content-Length") from None
    if length is not None and length > max_size:
        raise EntityTooLarge(ProposedSize=str(length), MaxSizeAllowed=str(max_size))
    declared = {
        algorithm: headers[name]
        for name, algorithm in s3_checksums.HEADERS.items()
        if name in headers
    }
    if len(declared) > 1:
        raise InvalidS3Request(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    for algorithm, value in declared.items():
        if not s3_checksums.well_formed(algorithm, value):
            raise InvalidS3Request(
                f"Value for x-amz-checksum-{algorithm.lower()} header is invalid."
            )
    trailer_name = headers.get("x-amz-trailer", "").strip().lower()
    trailer = s3_checksums.HEADERS.get(trailer_name)
    if trailer_name and trailer is None:
        raise InvalidS3Request("The value specified in the x-amz-trailer header is not supported")
    sdk = headers.get("x-amz-sdk-checksum-algorithm", "").upper()
    if sdk and sdk not in s3_checksums.ALGORITHMS:
        raise InvalidS3Request("Checksum algorithm provided is unsupported.")
    algorithms = tuple({*declared, *([trailer] if trailer else []), *([sdk] if sdk else [])})
    md5 = None
    if "content-md5" in headers:
        try:
            md5 = base64.b64decode(headers["content-md5"], validate=True)
        except binascii.Error:
            md5 = b""
        if len(md5) != 16:
            raise InvalidDigest(**{"Content-MD5": headers["content-md5"]})
    return _Plan(
        sigv4.payload_hash_to_check(list(headers.items())),
        chunked,
        length,
        algorithms,
        declared,
        trailer,
        md5,
    )


def _decoder(request: S3Request, plan: _Plan) -> ChunkedDecoder | None:
    if not plan.chunked:
        return None
    info, key = request.api.signing, request.api.signing_key
    if info is None or key is None:  # unsigned chunks, or --auth open
        return ChunkedDecoder()
    scope = f"{info.scope_date}/{info.region}/{info.service}/aws4_request"
    return ChunkedDecoder(ChunkSigner(key, info.amz_date, scope, info.signature))


async def receive(request: S3Request, path: Path, max_size: int = MAX_OBJECT) -> Received:
    """Stream the body into `path`; verified digests. On any error the file is removed."""
    plan = _plan(request, max_size)
    digests = s3_checksums.Digests(plan.algorithms, sha256=plan.sha256 is not None)
    writer = StagedWriter(path, digests.update)
    decoder = _decoder(request, plan)
    written = 0
    try:
        async for chunk in request.body:
            pieces = decoder.feed(chunk) if decoder is not None else (chunk,)
            for piece in pieces:
                written += len(piece)
                if written > max_size:
                    raise EntityTooLarge(ProposedSize=str(written), MaxSizeAllowed=str(max_size))
                await writer.write(piece)
        if decoder is not None:
            decoder.finish()
        await writer.close()
        if plan.length is not None and written != plan.length:
            raise IncompleteBody(
                "You did not provide the number of bytes specified by the Content-Length HTTP"
                " header."
            )
        return Received(path, written, digests.md5.hexdigest(), _verify(plan, digests, decoder))
    except ChunkSignatureMismatch:
        writer.discard()
        raise InvalidSignature() from None
    except ChunkedError:
        writer.discard()
        raise IncompleteBody() from None
    except BaseException:
        writer.discard()
        raise


def _verify(
    plan: _Plan, digests: s3_checksums.Digests, decoder: ChunkedDecoder | None
) -> dict[str, str]:
    if plan.sha256 is not None:
        assert digests.sha256 is not None
        if digests.sha256.hexdigest() != plan.sha256:
            raise ContentSHA256Mismatch()
    if plan.md5 is not None and digests.md5.digest() != plan.md5:
        raise BadDigest()
    declared = dict(plan.declared)
    if plan.trailer is not None and decoder is not None:
        value = decoder.trailers.get(f"x-amz-checksum-{plan.trailer.lower()}")
        if value is None or not s3_checksums.well_formed(plan.trailer, value):
            raise InvalidS3Request(
                f"Value for x-amz-checksum-{plan.trailer.lower()} trailing header is invalid."
            )
        declared[plan.trailer] = value
    computed = {algorithm: digests.checksum(algorithm) for algorithm in plan.algorithms}
    for algorithm, value in declared.items():
        if computed[algorithm] != value:
            raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
    return computed


async def read_small(request: S3Request, limit: int = MAX_SMALL) -> bytes:
    """A small body (XML), checked like an object's (sha256, Content-MD5, checksums)."""
    plan = _plan(request, limit)
    digests = s3_checksums.Digests(plan.algorithms, sha256=plan.sha256 is not None)
    decoder = _decoder(request, plan)
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in request.body:
            for piece in decoder.feed(chunk) if decoder is not None else (chunk,):
                size += len(piece)
                if size > limit:
                    raise InvalidS3Request("The request body is too large")
                parts.append(piece)
        if decoder is not None:
            decoder.finish()
    except ChunkSignatureMismatch:
        raise InvalidSignature() from None
    except ChunkedError:
        raise IncompleteBody() from None
    body = b"".join(parts)
    digests.update(body)
    _verify(plan, digests, decoder)
    return body
