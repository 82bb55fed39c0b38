"""The S3 service: buckets, object versions, tags, versioning, object events.

`commit_object` is the one way an object version comes to exist (PutObject, CopyObject,
PostObject, and CompleteMultipartUpload from the multipart module): it makes a staged file
the current version and then tells the ObjectEventSink. Bytes never pass through here: the
API layer streams them into `staging_path()` files.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import msgspec

from nimbus.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
    S3AccessDenied,
    S3Error,
    S3MethodNotAllowed,
)
from nimbus.protocol import s3_rules
from nimbus.services.contracts import ObjectEvent, ObjectEventSink
from nimbus.store.objects import (
    NULL_VERSION,
    Bucket,
    Deleted,
    ObjectMeta,
    ObjectStore,
    ObjectVersion,
)

log = logging.getLogger("nimbus.s3")


class S3Service:
    def __init__(
        self, store: ObjectStore, region: str, events: ObjectEventSink | None = None
    ) -> None:
        self.store = store
        self.region = region
        self.events = events  # may be set after construction (the notifier comes later)

    # buckets -------------------------------------------------------------------------------
    async def create_bucket(self, account: str, name: str, location: str | None) -> Bucket:
        """InvalidBucketName, BucketAlreadyOwnedByYou (409 as outside us-east-1: AWS answers
        200 there for the legacy reason; we keep the clearer 409 only where AWS does)."""
        s3_rules.check_bucket_name(name)
        bucket = Bucket(name, account, location or self.region, time.time())
        existing = await self.store.create_bucket(bucket)
        if existing is None:
            return bucket
        if existing.account_id != account:
            raise BucketAlreadyExists(BucketName=name)
        if existing.region == "us-east-1" and bucket.region == "us-east-1":
            return existing  # S3 in us-east-1 answers 200 to re-creating your own bucket
        raise BucketAlreadyOwnedByYou(BucketName=name)

    async def bucket(self, account: str, name: str) -> Bucket:
        """The caller's bucket: NoSuchBucket, or AccessDenied if another account's."""
        found = await self.store.get_bucket(name)
        if found is None:
            raise NoSuchBucket(BucketName=name)
        if found.account_id != account:
            raise S3AccessDenied()
        return found

    async def list_buckets(self, account: str) -> list[Bucket]:
        return await self.store.list_buckets(account)

    async def delete_bucket(self, account: str, name: str) -> None:
        await self.bucket(account, name)
        await self.store.delete_bucket(name)
        # Its notification configuration went with it (cascade): drop any cached copy.
        forget = getattr(self.events, "bucket_deleted", None)
        if forget is not None:
            forget(name)

    async def set_versioning(self, account: str, name: str, status: str) -> None:
        await self.bucket(account, name)
        await self.store.update_bucket(name, versioning=status)

    async def set_bucket_config(self, account: str, name: str, key: str, value: object) -> None:
        """One entry of a bucket's free-form settings (None removes it)."""
        bucket = await self.bucket(account, name)
        config = dict(bucket.config)
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
        await self.store.update_bucket(name, config=config)

    # objects -------------------------------------------------------------------------------
    def staging_path(self) -> Path:
        """Where to write an object's bytes before `commit_object` (same filesystem as the
        blobs, cleared at start: a crash never leaves a half object visible)."""
        return self.store.files.staging_path()

    def blob_path(self) -> Path:
        """Or write them here, at their final place: `commit_object` takes the file as it
        is (no rename). The caller removes it if it does not commit it; a crash leaves an
        unreferenced file, removed at the next start."""
        return self.store.files.reserve()

    async def commit_object(
        self,
        account: str,
        bucket: str,
        key: str,
        staged: Path | None,
        meta: ObjectMeta,
        event_name: str = "ObjectCreated:Put",
        request_id: str = "",
        source_ip: str = "127.0.0.1",
        synced: bool = False,
    ) -> ObjectVersion:
        """Make the file at `staged` (None: empty object; moved, not copied) the current
        version of bucket/key with `meta` (etag without quotes, size, content type, headers,
        user metadata, checksums, tags) as the bucket's versioning says. Durable when this
        returns; then the event (`event_name`, e.g. "ObjectCreated:CompleteMultipartUpload")
        goes to the ObjectEventSink. `synced`: the file is fsynced already (else done here).
        Raises NoSuchBucket/AccessDenied."""
        await self.bucket(account, bucket)
        version = await self.store.put(bucket, key, staged, meta, synced)
        await self._emit(account, version, event_name, request_id, source_ip, meta.size, meta.etag)
        return version

    async def get_object(
        self, account: str, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion:
        """The current version or the given one. NoSuchKey / NoSuchVersion; a delete marker
        is NoSuchKey (current) or MethodNotAllowed (asked by version id), with the
        x-amz-delete-marker header in `error.response_headers`."""
        owner, found = await self.store.lookup(bucket, key, version_id)
        if owner is None:
            raise NoSuchBucket(BucketName=bucket)
        if owner != account:
            raise S3AccessDenied()
        if found is None:
            if version_id is None:
                raise NoSuchKey(Key=key)
            raise NoSuchVersion(Key=key, VersionId=version_id)
        if found.delete_marker:
            error: S3Error = (
                NoSuchKey(Key=key)
                if version_id is None
                else S3MethodNotAllowed(Method="GET", ResourceType="DeleteMarker")
            )
            error.response_headers = {
                "x-amz-delete-marker": "true",
                "x-amz-version-id": found.version_id,
            }
            raise error
        return found

    async def delete_object(
        self,
        account: str,
        bucket: str,
        key: str,
        version_id: str | None = None,
        request_id: str = "",
        source_ip: str = "127.0.0.1",
    ) -> Deleted:
        await self.bucket(account, bucket)
        deleted = await self.store.delete(bucket, key, version_id)
        if deleted.removed is None and not (version_id is None and deleted.delete_marker):
            return deleted  # nothing changed
        name = (
            "ObjectRemoved:DeleteMarkerCreated"
            if version_id is None and deleted.delete_marker
            else "ObjectRemoved:Delete"
        )
        event_version = deleted.version_id if deleted.version_id != NULL_VERSION else None
        await self._emit_removal(account, bucket, key, name, event_version, request_id, source_ip)
        return deleted

    async def set_tags(
        self, account: str, bucket: str, key: str, version_id: str | None, tags: dict[str, str]
    ) -> ObjectVersion:
        version = await self.get_object(account, bucket, key, version_id)
        meta = _with_tags(version.meta, tags)
        await self.store.set_meta(bucket, key, version.version_id, meta)
        return version

    async def read_object(
        self, account: str, bucket: str, key: str, version_id: str | None = None
    ) -> bytes:
        """ObjectReader: the whole object (callers bound the size)."""
        version = await self.get_object(account, bucket, key, version_id)
        if version.blob is None:
            return b""
        return await asyncio.to_thread(self.store.files.path(version.blob).read_bytes)

    # events --------------------------------------------------------------------------------
    async def _emit(
        self,
        account: str,
        version: ObjectVersion,
        name: str,
        request_id: str,
        source_ip: str,
        size: int | None,
        etag: str | None,
    ) -> None:
        if self.events is None:
            return
        event = ObjectEvent(
            account=account,
            region=self.region,
            bucket=version.bucket,
            key=version.key,
            event_name=name,
            event_time=version.last_modified,
            size=size,
            etag=etag,
            version_id=None if version.version_id == NULL_VERSION else version.version_id,
            sequencer=f"{time.time_ns():016X}",
            source_ip=source_ip,
            request_id=request_id,
            principal=account,
        )
        await self._deliver(event)

    async def _emit_removal(
        self,
        account: str,
        bucket: str,
        key: str,
        name: str,
        version_id: str | None,
        request_id: str,
        source_ip: str,
    ) -> None:
        if self.events is None:
            return
        event = ObjectEvent(
            account=account,
            region=self.region,
            bucket=bucket,
            key=key,
            event_name=name,
            event_time=time.time(),
            size=None,
            etag=None,
            version_id=version_id,
            sequencer=f"{time.time_ns():016X}",
            source_ip=source_ip,
            request_id=request_id,
            principal=account,
        )
        await self._deliver(event)

    async def _deliver(self, event: ObjectEvent) -> None:
        assert self.events is not None
        try:
            await self.events.object_changed(event)
        except Exception:  # the sink must not raise; the object is stored regardless
            log.exception(
                "object event %s for %s/%s failed", event.event_name, event.bucket, event.key
            )


def _with_tags(meta: ObjectMeta, tags: dict[str, str]) -> ObjectMeta:
    return msgspec.structs.replace(meta, tags=tags)
