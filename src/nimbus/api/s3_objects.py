"""S3 object operations: PutObject, GetObject (ranges, parts, conditions), HeadObject,
DeleteObject. CopyObject is in s3_copy."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import unquote

from nimbus.api import s3_body
from nimbus.api.edge import StreamingResponse
from nimbus.api.s3 import S3Api, S3Request, empty
from nimbus.api.s3_tags import parse_tag_header
from nimbus.errors import (
    InvalidArgument,
    InvalidPartNumber,
    InvalidS3Request,
    InvalidStorageClass,
    NoSuchKey,
    S3Error,
    S3PreconditionFailed,
)
from nimbus.protocol import s3_rules, s3xml
from nimbus.services.s3 import S3Service
from nimbus.store.objects import NULL_VERSION, ObjectMeta, ObjectVersion
from nimbus.store.s3_blobs import read_chunks

Headers = list[tuple[str, str]]
SMALL_READ = 256 * 1024  # read at once; larger objects stream in 1 MiB chunks
CONTENT_HEADERS = (
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
)
STORAGE_CLASSES = {
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE",
}  # fmt: skip
_HEADER_NAMES = {
    "content-encoding": "Content-Encoding",
    "content-disposition": "Content-Disposition",
    "content-language": "Content-Language",
    "cache-control": "Cache-Control",
    "expires": "Expires",
}
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def version_headers(version: ObjectVersion) -> Headers:
    return [] if version.version_id == NULL_VERSION else [("x-amz-version-id", version.version_id)]


def new_meta(request: S3Request, size: int, etag: str, checksums: dict[str, str]) -> ObjectMeta:
    """An object's metadata from a PUT's headers."""
    headers = request.headers
    content: dict[str, str] = {}
    for name in CONTENT_HEADERS:
        if name in headers:
            value = headers[name]
            if name == "content-encoding":  # the transfer coding is not the object's
                value = ",".join(
                    p for p in (v.strip() for v in value.split(",")) if p and p != "aws-chunked"
                )
                if not value:
                    continue
            content[name] = value
    storage = headers.get("x-amz-storage-class", "STANDARD")
    if storage not in STORAGE_CLASSES:
        raise InvalidStorageClass(StorageClassRequested=storage)
    return ObjectMeta(
        size=size,
        etag=etag,
        content_type=headers.get("content-type") or "binary/octet-stream",
        headers=content,
        metadata=user_metadata(headers),
        checksums=checksums,
        checksum_type="FULL_OBJECT" if checksums else None,
        tags=parse_tag_header(headers.get("x-amz-tagging")),
        storage_class=storage,
    )


def user_metadata(headers: dict[str, str]) -> dict[str, str]:
    meta = {k[len("x-amz-meta-") :]: v for k, v in headers.items() if k.startswith("x-amz-meta-")}
    if sum(len(k) + len(v) for k, v in meta.items()) > 2048:
        raise S3Error("Your metadata headers exceed the maximum allowed metadata size", Size="2048")
    return meta


class ObjectHandlers:
    def __init__(self, s3: S3Service) -> None:
        self.s3 = s3

    def register(self, api: S3Api) -> None:
        api.register("PutObject", self.put_object)
        api.register("GetObject", self.get_object)
        api.register("HeadObject", self.get_object)
        api.register("DeleteObject", self.delete_object)

    async def put_object(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None and request.key is not None
        await self.s3.bucket(request.account, request.bucket)  # before taking the body
        await self._check_write_conditions(request)
        # Written in place (no rename at the commit); receive() removes it on its errors.
        received = await s3_body.receive(request, self.s3.blob_path())
        try:
            meta = new_meta(request, received.size, received.md5, received.checksums)
            version = await self.s3.commit_object(
                request.account,
                request.bucket,
                request.key,
                received.path,
                meta,
                "ObjectCreated:Put",
                request.request_id,
                request.source_ip,
                synced=True,
            )
        except Exception:  # not committed (a cancelled commit may still be: the file stays)
            with contextlib.suppress(FileNotFoundError):
                received.path.unlink()
            raise
        headers = [("ETag", f'"{version.etag}"'), *version_headers(version)]
        headers += [(f"x-amz-checksum-{a.lower()}", v) for a, v in meta.checksums.items()]
        if meta.checksum_type:
            headers.append(("x-amz-checksum-type", meta.checksum_type))
        return 200, headers, b""

    async def _check_write_conditions(self, request: S3Request) -> None:
        """Conditional writes: If-None-Match: * (only if absent), If-Match: <etag>."""
        if_none, if_match = request.header("if-none-match"), request.header("if-match")
        if if_none is None and if_match is None:
            return
        assert request.bucket is not None and request.key is not None
        current = await self.s3.store.get(request.bucket, request.key)
        exists = current is not None and not current.delete_marker
        if if_none is not None:
            if if_none.strip() != "*":
                raise S3Error(
                    "If-None-Match only supports the value *", ArgumentName="If-None-Match"
                )
            if exists:
                raise S3PreconditionFailed(Condition="If-None-Match")
        if if_match is not None:
            if not exists:
                raise NoSuchKey(Key=request.key)
            assert current is not None
            if if_match.strip().strip('"') not in ("*", current.etag):
                raise S3PreconditionFailed(Condition="If-Match")

    async def get_object(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None and request.key is not None
        version_id = request.query.get("versionId")
        version = await self.s3.get_object(request.account, request.bucket, request.key, version_id)
        headers = self._object_headers(request, version)
        h = request.headers
        verdict = s3_rules.evaluate(
            version.etag,
            version.last_modified,
            h.get("if-match"),
            h.get("if-none-match"),
            h.get("if-modified-since"),
            h.get("if-unmodified-since"),
        )
        if verdict is not None:
            status, condition = verdict
            if status == 412:
                raise S3PreconditionFailed(Condition=condition)
            keep = ("ETag", "Last-Modified", "x-amz-version-id", "Cache-Control", "Expires")
            return 304, [(k, v) for k, v in headers if k in keep], b""
        size = version.size
        span = s3_rules.byte_range(h.get("range"), size)
        if "partNumber" in request.query:
            if "range" in h:
                raise InvalidS3Request(
                    "Cannot specify both Range header and partNumber query parameter."
                )
            span = _part_span(request.query["partNumber"], version)
        status = 200
        start, end = 0, size - 1
        if span is not None:
            status, (start, end) = 206, span
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        elif h.get("x-amz-checksum-mode", "").upper() == "ENABLED":
            headers += [
                (f"x-amz-checksum-{a.lower()}", v) for a, v in version.meta.checksums.items()
            ]
            if version.meta.checksum_type:
                headers.append(("x-amz-checksum-type", version.meta.checksum_type))
        length = end - start + 1 if size else 0
        headers.append(("Content-Length", str(length)))
        for param, name in _OVERRIDES.items():
            if param in request.query:
                headers = [(k, v) for k, v in headers if k != name] + [(name, request.query[param])]
        if request.method == "HEAD" or length == 0 or version.blob is None:
            return status, headers, empty()
        files = self.s3.store.files
        try:
            if length <= SMALL_READ:  # one trip to a thread; the edge sets Content-Length
                data = await asyncio.to_thread(files.read, version.blob, start, end + 1)
                return status, [h for h in headers if h[0] != "Content-Length"], data
            handle = await files.open(version.blob)
        except FileNotFoundError:  # replaced between the lookup and the open
            raise NoSuchKey(Key=request.key) from None
        return status, headers, read_chunks(handle, start, end + 1)

    def _object_headers(self, request: S3Request, version: ObjectVersion) -> Headers:
        meta = version.meta
        headers: Headers = [
            ("Content-Type", meta.content_type),
            ("ETag", f'"{meta.etag}"'),
            ("Last-Modified", s3xml.http_time(version.last_modified)),
            ("Accept-Ranges", "bytes"),
            *version_headers(version),
        ]
        headers += [(_HEADER_NAMES[k], v) for k, v in meta.headers.items() if k in _HEADER_NAMES]
        headers += [(f"x-amz-meta-{k}", v) for k, v in meta.metadata.items()]
        if meta.tags:
            headers.append(("x-amz-tagging-count", str(len(meta.tags))))
        if meta.storage_class != "STANDARD":
            headers.append(("x-amz-storage-class", meta.storage_class))
        if meta.parts_count:
            headers.append(("x-amz-mp-parts-count", str(meta.parts_count)))
        return headers

    async def delete_object(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None and request.key is not None
        version_id = request.query.get("versionId")
        deleted = await self.s3.delete_object(
            request.account,
            request.bucket,
            request.key,
            version_id,
            request.request_id,
            request.source_ip,
        )
        headers: Headers = []
        if deleted.delete_marker:
            headers.append(("x-amz-delete-marker", "true"))
        if deleted.version_id is not None and (deleted.version_id != NULL_VERSION or version_id):
            headers.append(("x-amz-version-id", deleted.version_id))
        return 204, headers, b""


def _part_span(number: str, version: ObjectVersion) -> tuple[int, int]:
    """[start, end] of part `number` (1-based); a single-part object is its part 1."""
    try:
        part = int(number)
    except ValueError:
        part = 0
    if not 1 <= part <= 10000:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=number,
        )
    sizes = version.meta.part_sizes or [version.size]
    if part > len(sizes) or (version.size == 0 and part == 1 and not version.meta.part_sizes):
        raise InvalidPartNumber(PartNumberRequested=str(part), ActualPartCount=str(len(sizes)))
    start = sum(sizes[: part - 1])
    return start, start + sizes[part - 1] - 1


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """x-amz-copy-source: [/]bucket/key[?versionId=id], URL-encoded."""
    path, _, query = value.partition("?")
    version = None
    if query:
        name, _, version_value = query.partition("=")
        if name != "versionId" or not version_value:
            raise InvalidArgument(
                "Invalid copy source version id", ArgumentName="x-amz-copy-source"
            )
        version = unquote(version_value)
    path = unquote(path)
    path = path[1:] if path.startswith("/") else path
    bucket, slash, key = path.partition("/")
    if not bucket or not slash or not key:
        raise InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    return bucket, key, version
