"""The multipart operations of the S3 API: request arguments and headers in, XML out.
`register(api, service)` adds them to the S3 adapter's handler table."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from nimbus.api import s3_body
from nimbus.api.edge import BodyTooLarge, StreamingResponse
from nimbus.api.s3 import S3Api, S3Request
from nimbus.api.s3_objects import new_meta, parse_copy_source
from nimbus.errors import (
    BadDigest,
    ContentSHA256Mismatch,
    InvalidArgument,
    InvalidDigest,
    MalformedXML,
    S3Error,
    S3PreconditionFailed,
)
from nimbus.protocol import s3_checksums, s3_rules, s3xml, sigv4
from nimbus.protocol import s3_multipart as proto
from nimbus.services.s3_multipart import MultipartService
from nimbus.store.s3_uploads import Upload

XML = "application/xml"
_MAX_INT = 2_147_483_647


class KeyTooLong(S3Error):
    code = "KeyTooLongError"
    status = 400
    default_message = "Your key is too long"


def register(api: S3Api, service: MultipartService) -> None:
    handlers = MultipartHandlers(service)
    api.register("CreateMultipartUpload", handlers.create)
    api.register("UploadPart", handlers.upload_part)
    api.register("UploadPartCopy", handlers.upload_part_copy)
    api.register("CompleteMultipartUpload", handlers.complete)
    api.register("AbortMultipartUpload", handlers.abort)
    api.register("ListParts", handlers.list_parts)
    api.register("ListMultipartUploads", handlers.list_uploads)


def _names(request: S3Request) -> tuple[str, str]:
    assert request.bucket is not None and request.key is not None  # routed at object level
    if len(request.key.encode()) > 1024:
        raise KeyTooLong(Size=str(len(request.key.encode())), MaxSizeAllowed="1024")
    return request.bucket, request.key


def _reply(
    request: S3Request,
    body: bytes = b"",
    status: int = 200,
    headers: Mapping[str, str | None] | None = None,
) -> StreamingResponse:
    out = [("x-amz-request-id", request.request_id), ("x-amz-id-2", request.request_id)]
    out += [(k, v) for k, v in (headers or {}).items() if v is not None]
    if body:
        out.append(("Content-Type", XML))
    return status, out, body


def object_attributes(request: S3Request) -> dict[str, Any]:
    """What the completed object gets from CreateMultipartUpload's headers: checked and
    shaped as PutObject does (content headers, metadata, tags, storage class)."""
    meta = msgspec.structs.asdict(new_meta(request, 0, "", {}))
    for field in ("size", "etag", "checksums", "checksum_type", "parts_count"):
        meta.pop(field, None)
    return meta


def _int_argument(request: S3Request, name: str, default: int, message: str) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    value = proto.parse_int(text)
    if value is None or not 0 <= value <= _MAX_INT:
        raise InvalidArgument(message, ArgumentName=name, ArgumentValue=text)
    return value


def _upload_info(upload: Upload, account: str) -> proto.UploadInfo:
    return proto.UploadInfo(
        upload.bucket,
        upload.key,
        upload.upload_id,
        upload.initiated,
        s3xml.canonical_id(account),
        upload.storage_class,
        upload.checksum_algorithm,
        upload.checksum_type,
        account,
    )


async def _complete_body(request: S3Request) -> bytes:
    """CompleteMultipartUpload's XML, checked against the signed SHA-256 and Content-MD5.
    (Its x-amz-checksum-* headers are the whole object's, checked at completion.)"""
    try:
        body = await request.body.read(s3_body.MAX_SMALL)
    except BodyTooLarge:
        raise MalformedXML() from None
    signed = sigv4.payload_hash_to_check(list(request.headers.items()))
    if signed is not None and hashlib.sha256(body).hexdigest() != signed:
        raise ContentSHA256Mismatch()
    md5 = request.headers.get("content-md5")
    if md5 is not None:
        digest = proto.content_md5(md5)
        if digest is None:
            raise InvalidDigest()
        if digest != hashlib.md5(body).digest():
            raise BadDigest()
    return body


class MultipartHandlers:
    def __init__(self, service: MultipartService) -> None:
        self.service = service

    async def create(self, request: S3Request) -> StreamingResponse:
        bucket, key = _names(request)
        upload = await self.service.create(
            request.account, bucket, key, request.headers, object_attributes(request)
        )
        return _reply(
            request,
            proto.initiate_result(bucket, key, upload.upload_id),
            headers={
                "x-amz-checksum-algorithm": upload.checksum_algorithm,
                "x-amz-checksum-type": upload.checksum_type,
            },
        )

    async def upload_part(self, request: S3Request) -> StreamingResponse:
        bucket, key = _names(request)
        headers = request.headers
        declared = {a for h, a in s3_checksums.HEADERS.items() if h in headers}
        trailer = s3_checksums.HEADERS.get(headers.get("x-amz-trailer", "").strip().lower())
        sdk = headers.get("x-amz-sdk-checksum-algorithm", "").upper()
        declared |= {a for a in (trailer, sdk) if a in s3_checksums.ALGORITHMS}

        echoed: dict[str, str] = {}

        async def receive(path: Path) -> tuple[int, str, dict[str, str]]:
            received = await s3_body.receive(request, path, proto.MAX_PART_SIZE)
            echoed.update(received.checksums)
            return received.size, received.md5, received.checksums

        part = await self.service.upload_part(
            request.account,
            bucket,
            key,
            request.query.get("uploadId", ""),
            request.query.get("partNumber", ""),
            receive,
            declared,
        )
        if part.checksum is not None and not echoed:  # computed for the upload's algorithm
            echoed[await self._algorithm(request) or ""] = part.checksum
        reply: dict[str, str | None] = {"ETag": f'"{part.etag}"'}
        reply.update({f"x-amz-checksum-{a.lower()}": v for a, v in echoed.items() if a})
        return _reply(request, headers=reply)

    async def _algorithm(self, request: S3Request) -> str | None:
        upload = await self.service.store.get(request.query.get("uploadId", ""))
        return upload.checksum_algorithm if upload is not None else None

    async def upload_part_copy(self, request: S3Request) -> StreamingResponse:
        bucket, key = _names(request)
        source = parse_copy_source(request.headers["x-amz-copy-source"])
        await s3_body.read_small(request)  # no body expected; drain and check it
        headers = {k.removeprefix("x-amz-copy-source-"): v for k, v in request.headers.items()}

        def condition(etag: str, last_modified: float) -> None:
            verdict = s3_rules.evaluate(
                etag,
                last_modified,
                headers.get("if-match"),
                headers.get("if-none-match"),
                headers.get("if-modified-since"),
                headers.get("if-unmodified-since"),
            )
            if verdict is not None:  # S3 answers 412 for every copy-source condition
                raise S3PreconditionFailed(Condition=f"x-amz-copy-source-{verdict[1]}")

        part, copied = await self.service.upload_part_copy(
            request.account,
            bucket,
            key,
            request.query.get("uploadId", ""),
            request.query.get("partNumber", ""),
            source,
            request.headers.get("x-amz-copy-source-range"),
            condition,
        )
        algorithm = await self._algorithm(request)
        checksum = (algorithm, part.checksum) if algorithm and part.checksum else None
        body = proto.copy_part_result(part.etag, part.last_modified, checksum)
        return _reply(request, body, headers={"x-amz-copy-source-version-id": copied.version_id})

    async def complete(self, request: S3Request) -> StreamingResponse:
        bucket, key = _names(request)
        body = await _complete_body(request)
        done = await self.service.complete(
            request.account,
            bucket,
            key,
            request.query.get("uploadId", ""),
            body,
            request.headers,
            request.request_id,
            request.headers.get("x-forwarded-for", "127.0.0.1").split(",")[0].strip(),
        )
        host = request.headers.get("host", "localhost")
        location = f"http://{host}/{quote(bucket)}/{quote(key)}"
        result = proto.complete_result(
            location, bucket, key, done.etag, done.checksum, done.checksum_type
        )
        return _reply(request, result, headers={"x-amz-version-id": done.version_id})

    async def abort(self, request: S3Request) -> StreamingResponse:
        bucket, key = _names(request)
        await self.service.abort(request.account, bucket, key, request.query.get("uploadId", ""))
        return _reply(request, status=204)

    async def list_parts(self, request: S3Request) -> StreamingResponse:
        bucket, key = _names(request)
        max_parts = _int_argument(
            request,
            "max-parts",
            proto.MAX_LIST,
            "Argument max-parts must be an integer between 0 and 2147483647",
        )
        marker = _int_argument(
            request,
            "part-number-marker",
            0,
            "Argument part-number-marker must be an integer between 0 and 2147483647",
        )
        max_parts = min(max_parts, proto.MAX_LIST)
        upload, parts, truncated = await self.service.list_parts(
            request.account, bucket, key, request.query.get("uploadId", ""), marker, max_parts
        )
        infos = [
            proto.PartInfo(p.number, p.etag, p.size, p.last_modified, p.checksum) for p in parts
        ]
        body = proto.list_parts_result(
            _upload_info(upload, request.account), infos, marker, max_parts, truncated
        )
        return _reply(request, body)

    async def list_uploads(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None
        q = request.query
        max_uploads = _int_argument(
            request,
            "max-uploads",
            proto.MAX_LIST,
            "Argument max-uploads must be an integer between 0 and 2147483647",
        )
        encoding = q.get("encoding-type")
        if encoding is not None and encoding != "url":
            raise InvalidArgument(
                "Invalid Encoding Method specified in Request",
                ArgumentName="encoding-type",
                ArgumentValue=encoding,
            )
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        key_marker = q.get("key-marker", "")
        id_marker = q.get("upload-id-marker", "") if key_marker else ""
        max_uploads = min(max_uploads, proto.MAX_LIST)
        uploads, prefixes, truncated = await self.service.list_uploads(
            request.account, request.bucket, prefix, delimiter, key_marker, id_marker, max_uploads
        )
        # The last entry listed (an upload or a common prefix, in key order) is the marker.
        next_key, next_id = "", ""
        last_upload = uploads[-1] if uploads else None
        last_prefix = prefixes[-1] if prefixes else None
        if last_upload is not None and (last_prefix is None or last_upload.key > last_prefix):
            next_key, next_id = last_upload.key, last_upload.upload_id
        elif last_prefix is not None:
            next_key = last_prefix
        body = proto.list_uploads_result(
            request.bucket,
            [_upload_info(u, request.account) for u in uploads],
            prefixes,
            prefix=prefix,
            delimiter=delimiter or None,
            key_marker=key_marker,
            upload_id_marker=id_marker,
            next_key_marker=next_key,
            next_upload_id_marker=next_id,
            max_uploads=max_uploads,
            truncated=truncated,
            url_encode=encoding == "url",
        )
        return _reply(request, body)
