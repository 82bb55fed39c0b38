"""S3 multipart uploads: create, upload (and copy) parts, complete, abort, list.

Part bytes stream to a file as they arrive (never a whole part in memory: the API layer's
receiver hashes and verifies them on the way), are fsynced, then recorded
(store/s3_uploads.py). Completion copies the parts into one staged file of the object
store in the kernel (copy_file_range: the data never pass through Python) and commits it
there atomically; the upload and its part files are then removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from nimbus.errors import (
    InvalidArgument,
    InvalidS3Request,
    MalformedXML,
    NoSuchUpload,
    S3Error,
)
from nimbus.protocol import s3_multipart as proto
from nimbus.services import s3_multipart_checks as checks
from nimbus.services import s3_multipart_checksums as sums
from nimbus.services import s3_multipart_files as files
from nimbus.store.s3_uploads import Part, Upload, UploadStore, new_upload_id

# Streams a part's body into the path given, verifying it: (size, MD5 hex, checksums).
Receiver = Callable[[Path], Awaitable[tuple[int, str, dict[str, str]]]]


class MultipartObjects(Protocol):
    """What multipart needs from the object store (an adapter over the S3 core's)."""

    async def check_bucket(self, account: str, bucket: str) -> None:
        """Raises NoSuchBucket."""
        ...

    def staging_path(self) -> Path:
        """A fresh file path on the objects' filesystem."""
        ...

    async def commit(self, request: CommitRequest) -> str | None:
        """Make the staged file the object, atomically and durably; the version id."""
        ...

    async def open_source(
        self, account: str, bucket: str, key: str, version_id: str | None
    ) -> CopySource:
        """An open handle on an object's bytes (NoSuchBucket, NoSuchKey, ...)."""
        ...


@dataclass(frozen=True)
class CopySource:
    handle: BinaryIO
    size: int
    version_id: str | None  # None: unversioned
    etag: str  # unquoted
    last_modified: float


# Checks x-amz-copy-source-if-* against the source's (etag, last modified); raises.
CopyCondition = Callable[[str, float], None]


@dataclass(frozen=True)
class CommitRequest:
    account: str
    bucket: str
    key: str
    staged: Path
    size: int
    etag: str  # unquoted, "<md5 of md5s>-N"
    attributes: dict[str, Any]  # as kept at CreateMultipartUpload
    checksum: tuple[str, str] | None  # (algorithm, value) to store and echo
    checksum_type: str | None
    part_sizes: list[int]  # each part's size, in order (GetObject?partNumber=)
    request_id: str
    source_ip: str
    event_name: str = "ObjectCreated:CompleteMultipartUpload"


@dataclass(frozen=True)
class Completed:
    etag: str
    version_id: str | None
    checksum: tuple[str, str] | None
    checksum_type: str | None


class MultipartService:
    def __init__(self, store: UploadStore, objects: MultipartObjects) -> None:
        self.store = store
        self.objects = objects
        # One lock per upload in use (with its number of users): a part being recorded never
        # races a completion or an abort.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def _locked(self, upload_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(upload_id, (asyncio.Lock(), 0))
        self._locks[upload_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[upload_id]
            if users == 1:
                del self._locks[upload_id]
            else:
                self._locks[upload_id] = (lock, users - 1)

    async def _upload(self, account: str, bucket: str, key: str, upload_id: str) -> Upload:
        upload = await self.store.get(upload_id) if upload_id else None
        if upload is None or (upload.account_id, upload.bucket, upload.key) != (
            account,
            bucket,
            key,
        ):
            await self.objects.check_bucket(account, bucket)  # NoSuchBucket comes first
            raise NoSuchUpload(UploadId=upload_id)
        return upload

    async def forget_orphans(self) -> int:
        """Remove the uploads of buckets that no longer exist (deleting a bucket takes its
        uploads in progress with it, as in S3); how many."""
        removed = 0
        for account, bucket in await self.store.buckets():
            try:
                await self.objects.check_bucket(account, bucket)
            except S3Error:
                for upload_id in await self.store.ids_in_bucket(account, bucket):
                    removed += await self.store.delete(upload_id)
        return removed

    # create ------------------------------------------------------------------------------
    async def create(
        self,
        account: str,
        bucket: str,
        key: str,
        headers: Mapping[str, str],
        attributes: dict[str, Any],
    ) -> Upload:
        await self.objects.check_bucket(account, bucket)
        algorithm = sums.algorithm_header(headers.get("x-amz-checksum-algorithm"))
        kind = sums.checksum_type(algorithm, headers.get("x-amz-checksum-type"))
        upload = Upload(
            new_upload_id(),
            account,
            bucket,
            key,
            time.time(),
            account,
            headers.get("x-amz-storage-class", "STANDARD"),
            algorithm,
            kind,
            attributes,
        )
        await self.store.create(upload)
        return upload

    # parts -------------------------------------------------------------------------------
    async def upload_part(
        self,
        account: str,
        bucket: str,
        key: str,
        upload_id: str,
        number_text: str,
        receive: Receiver,
        declared: set[str],
    ) -> Part:
        """`receive` streams the body into the path it is given and verifies what the request
        declared (Content-MD5, x-amz-checksum-*: the algorithms in `declared`)."""
        number = checks.part_number(number_text)
        upload = await self._upload(account, bucket, key, upload_id)
        algorithm = upload.checksum_algorithm
        for given in declared:
            if algorithm is not None and given != algorithm:
                raise InvalidS3Request(
                    "Checksum Type mismatch occurred, expected checksum Type: "
                    f"{algorithm.lower()}, actual checksum Type: {given.lower()}"
                )
        path = self.store.new_part_file(upload_id, number)
        try:
            size, md5, checksums = await receive(path)
            # Durable before the reply; the upload's checksum if the request carried none.
            checksum = await asyncio.to_thread(files.finish_part, path, algorithm, checksums)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        part = Part(number, size, md5, checksum, time.time(), path.name)
        await self._record(upload, part, path)
        return part

    async def upload_part_copy(
        self,
        account: str,
        bucket: str,
        key: str,
        upload_id: str,
        number_text: str,
        source: tuple[str, str, str | None],
        range_header: str | None,
        condition: CopyCondition | None = None,
    ) -> tuple[Part, CopySource]:
        number = checks.part_number(number_text)
        upload = await self._upload(account, bucket, key, upload_id)
        found_source = await self.objects.open_source(account, *source)
        handle, size = found_source.handle, found_source.size
        path = self.store.new_part_file(upload_id, number)
        algorithms = {upload.checksum_algorithm} if upload.checksum_algorithm else set()
        hasher = sums.hasher(algorithms)
        try:
            if condition is not None:
                condition(found_source.etag, found_source.last_modified)
            start, end = 0, size
            if range_header is not None:
                found = proto.copy_source_range(range_header)
                if found is None:
                    raise InvalidArgument(
                        "The x-amz-copy-source-range value must be of the form bytes=first-last "
                        "where first and last are the zero-based offsets of the first and last "
                        "bytes to copy",
                        ArgumentName="x-amz-copy-source-range",
                        ArgumentValue=range_header,
                    )
                if found[1] >= size:
                    raise InvalidArgument(
                        f"Range specified is not valid for source object of size: {size}",
                        ArgumentName="x-amz-copy-source-range",
                        ArgumentValue=range_header,
                    )
                start, end = found[0], found[1] + 1
            if end - start > proto.MAX_PART_SIZE:
                raise InvalidArgument(
                    "The specified copy source is larger than the maximum allowable size for a "
                    "copy source: 5368709120",
                    ArgumentName="x-amz-copy-source",
                )
            await asyncio.to_thread(files.copy_range, handle, path, start, end, hasher)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        finally:
            handle.close()
        algorithm = upload.checksum_algorithm
        part = Part(
            number,
            hasher.size,
            hasher.md5.hexdigest(),
            hasher.checksum(algorithm) if algorithm else None,
            time.time(),
            path.name,
        )
        await self._record(upload, part, path)
        return part, found_source

    async def _record(self, upload: Upload, part: Part, path: Path) -> None:
        async with self._locked(upload.upload_id):
            if not await self.store.put_part(upload.upload_id, part):
                raise NoSuchUpload(UploadId=upload.upload_id)

    # complete / abort --------------------------------------------------------------------
    async def complete(
        self,
        account: str,
        bucket: str,
        key: str,
        upload_id: str,
        body: bytes,
        headers: Mapping[str, str],
        request_id: str,
        source_ip: str,
    ) -> Completed:
        upload = await self._upload(account, bucket, key, upload_id)
        try:
            requested = proto.parse_complete(body)
        except proto.MultipartSyntaxError:
            raise MalformedXML() from None
        async with self._locked(upload_id):
            upload = await self._upload(account, bucket, key, upload_id)  # not completed meanwhile
            stored = {p.number: p for p in await self.store.parts(upload_id)}
            parts = checks.chosen_parts(upload, requested, stored)
            checksum = checks.object_checksum(upload, parts, headers)
            etag = proto.multipart_etag([p.etag for p in parts])
            size = sum(p.size for p in parts)
            expected_size = headers.get("x-amz-mp-object-size")
            if expected_size is not None and expected_size != str(size):
                raise InvalidS3Request(
                    f"The provided 'x-amz-mp-object-size' header value {expected_size} does "
                    f"not match what was computed: {size}"
                )
            staged = self.objects.staging_path()
            sources = [self.store.part_path(upload_id, p) for p in parts]
            try:
                await asyncio.to_thread(files.concatenate, sources, staged)
                version_id = await self.objects.commit(
                    CommitRequest(
                        account,
                        bucket,
                        key,
                        staged,
                        size,
                        etag,
                        upload.attributes,
                        checksum,
                        upload.checksum_type,
                        [p.size for p in parts],
                        request_id,
                        source_ip,
                    )
                )
            except BaseException:
                with contextlib.suppress(OSError):
                    staged.unlink()
                raise
            await self.store.delete(upload_id)
        return Completed(etag, version_id, checksum, upload.checksum_type if checksum else None)

    async def abort(self, account: str, bucket: str, key: str, upload_id: str) -> None:
        await self._upload(account, bucket, key, upload_id)
        async with self._locked(upload_id):
            if not await self.store.delete(upload_id):
                raise NoSuchUpload(UploadId=upload_id)

    # listing -----------------------------------------------------------------------------
    async def list_parts(
        self, account: str, bucket: str, key: str, upload_id: str, marker: int, max_parts: int
    ) -> tuple[Upload, list[Part], bool]:
        upload = await self._upload(account, bucket, key, upload_id)
        parts = await self.store.parts(upload_id, marker, max_parts + 1)
        return upload, parts[:max_parts], len(parts) > max_parts

    async def list_uploads(
        self,
        account: str,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        upload_id_marker: str,
        max_uploads: int,
    ) -> tuple[list[Upload], list[str], bool]:
        """Uploads and common prefixes, in key order, at most max_uploads of both together."""
        await self.objects.check_bucket(account, bucket)
        after: tuple[str, str] | None = None
        if key_marker:
            # No upload-id-marker: start after every upload of key_marker.
            after = (key_marker, upload_id_marker or "\U0010ffff")
        uploads: list[Upload] = []
        prefixes: list[str] = []
        while True:
            batch = await self.store.list_uploads(account, bucket, prefix, after, 1000)
            for upload in batch:
                after = (upload.key, upload.upload_id)
                common = _common_prefix(upload.key, prefix, delimiter)
                if common is not None and prefixes and prefixes[-1] == common:
                    continue
                if common is not None and key_marker.startswith(common) and not prefixes:
                    continue  # the marker lies inside this prefix: it was listed before
                if len(uploads) + len(prefixes) == max_uploads:
                    return uploads, prefixes, True
                if common is not None:
                    prefixes.append(common)
                else:
                    uploads.append(upload)
            if len(batch) < 1000:
                return uploads, prefixes, False


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return key[: at + len(delimiter)] if at >= 0 else None
