"""The object store as multipart sees it (MultipartObjects), over the S3 service: bucket
checks, staging files, the atomic commit of a completed upload, and copy sources."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from nimbus.services.s3 import S3Service
from nimbus.services.s3_multipart import CommitRequest, CopySource
from nimbus.store.objects import NULL_VERSION, ObjectMeta


class S3Objects:
    def __init__(self, s3: S3Service) -> None:
        self.s3 = s3

    async def check_bucket(self, account: str, bucket: str) -> None:
        await self.s3.bucket(account, bucket)

    def staging_path(self) -> Path:
        return self.s3.staging_path()

    async def commit(self, request: CommitRequest) -> str | None:
        meta = ObjectMeta(
            **{
                **request.attributes,  # as PutObject shapes them (api/s3_multipart.py)
                "size": request.size,
                "etag": request.etag,
                "checksums": dict([request.checksum]) if request.checksum else {},
                "checksum_type": request.checksum_type if request.checksum else None,
                "parts_count": len(request.part_sizes),
                "part_sizes": request.part_sizes,
            }
        )
        version = await self.s3.commit_object(
            request.account,
            request.bucket,
            request.key,
            request.staged,
            meta,
            request.event_name,
            request.request_id,
            request.source_ip,
        )
        return None if version.version_id == NULL_VERSION else version.version_id

    async def open_source(
        self, account: str, bucket: str, key: str, version_id: str | None
    ) -> CopySource:
        version = await self.s3.get_object(account, bucket, key, version_id)
        handle: BinaryIO = (
            io.BytesIO(b"")
            if version.blob is None
            else await self.s3.store.files.open(version.blob)
        )
        return CopySource(
            handle,
            version.size,
            None if version.version_id == NULL_VERSION else version.version_id,
            version.etag,
            version.last_modified,
        )
