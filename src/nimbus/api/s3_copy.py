"""CopyObject: a new version from an existing one (any version, any bucket of the
caller's), the metadata and tagging directives, the copy-source conditions. The bytes are
hard-linked (blobs never change in place), not copied."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from pathlib import Path

import msgspec

from nimbus.api import s3_body
from nimbus.api.edge import StreamingResponse
from nimbus.api.s3 import XML, S3Api, S3Request
from nimbus.api.s3_objects import (
    STORAGE_CLASSES,
    new_meta,
    parse_copy_source,
    version_headers,
)
from nimbus.api.s3_tags import parse_tag_header
from nimbus.errors import EntityTooLarge, InvalidS3Request, S3Error, S3PreconditionFailed
from nimbus.protocol import s3_rules, s3xml
from nimbus.services.s3 import S3Service
from nimbus.store.objects import NULL_VERSION, ObjectMeta, ObjectVersion


class CopyHandlers:
    def __init__(self, s3: S3Service) -> None:
        self.s3 = s3

    def register(self, api: S3Api) -> None:
        api.register("CopyObject", self.copy_object)

    async def copy_object(self, request: S3Request) -> StreamingResponse:
        assert request.bucket is not None and request.key is not None
        await self.s3.bucket(request.account, request.bucket)
        source_bucket, source_key, source_version = parse_copy_source(
            request.headers["x-amz-copy-source"]
        )
        source = await self.s3.get_object(
            request.account, source_bucket, source_key, source_version
        )
        _copy_conditions(request, source)
        if source.size > s3_body.MAX_OBJECT:
            raise EntityTooLarge(
                ProposedSize=str(source.size), MaxSizeAllowed=str(s3_body.MAX_OBJECT)
            )
        meta = _copied_meta(request, source)
        same = (source_bucket, source_key) == (request.bucket, request.key)
        replacing = request.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
        if (
            same
            and not replacing
            and "x-amz-storage-class" not in request.headers
            and source_version is None
        ):
            raise InvalidS3Request(
                "This copy request is illegal because it is trying to copy an object to itself"
                " without changing the object's metadata, storage class, website redirect"
                " location or encryption attributes."
            )
        staged = self.s3.staging_path()
        if source.blob is not None:
            await asyncio.to_thread(_link_or_copy, self.s3.store.files.path(source.blob), staged)
        else:
            staged.touch()
        try:
            version = await self.s3.commit_object(
                request.account,
                request.bucket,
                request.key,
                staged,
                meta,
                "ObjectCreated:Copy",
                request.request_id,
                request.source_ip,
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()
        inner = [
            s3xml.el("ETag", f'"{version.etag}"'),
            s3xml.el("LastModified", s3xml.iso_time(version.last_modified)),
        ]
        inner += [s3xml.el(f"Checksum{a}", v) for a, v in meta.checksums.items()]
        headers: list[tuple[str, str]] = [("Content-Type", XML), *version_headers(version)]
        if source.version_id != NULL_VERSION:
            headers.append(("x-amz-copy-source-version-id", source.version_id))
        return 200, headers, s3xml.document("CopyObjectResult", inner)


def _copy_conditions(request: S3Request, source: ObjectVersion) -> None:
    h = {k.removeprefix("x-amz-copy-source-"): v for k, v in request.headers.items()}
    verdict = s3_rules.evaluate(
        source.etag,
        source.last_modified,
        h.get("if-match"),
        h.get("if-none-match"),
        h.get("if-modified-since"),
        h.get("if-unmodified-since"),
    )
    if verdict is not None:
        raise S3PreconditionFailed(Condition=f"x-amz-copy-source-{verdict[1]}")


def _copied_meta(request: S3Request, source: ObjectVersion) -> ObjectMeta:
    meta = source.meta
    if request.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
        fresh = new_meta(request, meta.size, meta.etag, meta.checksums)
        return msgspec.structs.replace(
            fresh,
            tags=fresh.tags if _replace_tags(request) else meta.tags,
            parts_count=meta.parts_count,
            checksum_type=meta.checksum_type,
        )
    tags = meta.tags
    if _replace_tags(request):
        tags = parse_tag_header(request.headers.get("x-amz-tagging"))
    storage = request.headers.get("x-amz-storage-class", meta.storage_class)
    if storage not in STORAGE_CLASSES:
        raise S3Error("The storage class you specified is not valid", StorageClassRequested=storage)
    return msgspec.structs.replace(meta, tags=tags, storage_class=storage)


def _replace_tags(request: S3Request) -> bool:
    return request.headers.get("x-amz-tagging-directive", "COPY").upper() == "REPLACE"


def _link_or_copy(source: Path, target: Path) -> None:
    """Blobs are never changed in place: a hard link is a safe, instant copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
