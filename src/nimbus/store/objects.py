"""The S3 object store: bucket and object-version records in SQLite, bytes in files.

Writes are atomic: the bytes are fsynced and renamed into blobs/ (s3_blobs.BlobFiles; or
written there in place), their directory fsynced, then the version's record is committed;
concurrent writers share one transaction (group commit, s3_commit.py: plain sqlite3 on a
writer thread). A write is durable when its call returns. Replaced blobs are unlinked after
the commit (readers holding them open keep reading). Buckets are cached (write-through).

For other S3 modules (multipart): get a path from `files.staging_path()` (or any path on
the data directory's filesystem), write the object's bytes there, then make it the current
version of bucket/key with `put()` (through S3Service.commit_object, which also emits the
object event).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import and_, func, or_, select

from nimbus.errors import BucketNotEmpty, NoSuchBucket
from nimbus.store.s3_blobs import BlobFiles
from nimbus.store.s3_commit import GroupCommit, Op
from nimbus.store.s3_records import (
    BUCKET_COLUMNS,
    MARKER_META,
    NULL_VERSION,
    VERSION_COLUMNS,
    Bucket,
    Deleted,
    ObjectMeta,
    ObjectVersion,
    bucket_from_row,
    bucket_from_tuple,
    encode,
    insert_version,
    new_version_id,
    remove_version,
    unset_latest,
    version_from_row,
    version_from_tuple,
    versioning_of,
)
from nimbus.store.s3_schema import s3_buckets as b
from nimbus.store.s3_schema import s3_objects as o
from nimbus.store.sqlite import Database
from nimbus.store.writer import SqliteThread

log = logging.getLogger("nimbus.s3")
_BUCKET_VALUES = {"versioning", "config"}  # what update_bucket may set
# Re-exported: other modules import these from here.
__all__ = ["NULL_VERSION", "Bucket", "Deleted", "ObjectMeta", "ObjectStore", "ObjectVersion"]


class ObjectStore:
    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.files = BlobFiles(root)
        # The batch's new blobs are durable (their directories fsynced) before its commit.
        self.commits = GroupCommit(db, "S3 changes", self.files.sync_dirs)
        # The read of every GET/HEAD: one thread hop (SQLAlchemy + aiosqlite took several).
        self.reader = SqliteThread(db, "s3-reader")
        # Every request reads its bucket: kept here, write-through (this store is the only
        # writer of s3_buckets). Only buckets that exist (no entry per name asked for).
        # `_generation` grows with every bucket change, so a read that raced one is not kept.
        self._buckets: dict[str, Bucket] = {}
        self._generation = 0

    async def start(self) -> None:
        await self._remove_orphans()
        await self.commits.start()

    async def _remove_orphans(self) -> None:
        """Blobs no version refers to: a crash between a blob's move into place and its
        commit, or between a commit and the unlink of what it replaced. Nothing is in
        flight at start, so every unreferenced file is garbage."""
        on_disk = await asyncio.to_thread(self.files.all_blobs)
        if not on_disk:
            return
        async with self.db.engine.connect() as c:
            used = set((await c.execute(select(o.c.blob).where(o.c.blob.is_not(None)))).scalars())
        orphans = on_disk - used
        if orphans:
            log.info("removing %d unreferenced S3 blobs", len(orphans))
            await self._free(sorted(orphans))

    async def close(self) -> None:
        await self.commits.close()
        await self.reader.close()

    async def write(self, op: Op) -> Any:
        """Run `op` in the next group commit (see GroupCommit.write)."""
        return await self.commits.write(op)

    # buckets -------------------------------------------------------------------------------
    async def create_bucket(self, bucket: Bucket) -> Bucket | None:
        """None if created; else the bucket of that name that exists already."""

        def op(c: sqlite3.Connection) -> Bucket | None:
            row = c.execute(
                f"SELECT {BUCKET_COLUMNS} FROM s3_buckets WHERE name = ?", (bucket.name,)
            ).fetchone()
            if row is not None:
                return bucket_from_tuple(row)
            c.execute(
                f"INSERT INTO s3_buckets ({BUCKET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    bucket.name,
                    bucket.account_id,
                    bucket.region,
                    bucket.created,
                    bucket.versioning,
                    orjson.dumps(bucket.config).decode(),
                ),
            )
            return None

        try:
            found: Bucket | None = await self.write(op)
        finally:
            self._forget(bucket.name)
        return found

    def _forget(self, name: str) -> None:
        self._generation += 1
        self._buckets.pop(name, None)

    async def get_bucket(self, name: str) -> Bucket | None:
        found = self._buckets.get(name)
        if found is not None:
            return found
        generation = self._generation
        async with self.db.engine.connect() as c:
            row = (await c.execute(select(b).where(b.c.name == name))).first()
        if row is None:
            return None
        found = bucket_from_row(row)
        if generation == self._generation:  # no bucket changed meanwhile
            self._buckets[name] = found
        return found

    async def list_buckets(self, account_id: str) -> list[Bucket]:
        async with self.db.engine.connect() as c:
            rows = await c.execute(select(b).where(b.c.account_id == account_id).order_by(b.c.name))
            return [bucket_from_row(row) for row in rows]

    async def delete_bucket(self, name: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM s3_buckets WHERE name = ?", (name,)).fetchone() is None:
                raise NoSuchBucket(BucketName=name)
            if c.execute("SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                raise BucketNotEmpty(BucketName=name)
            c.execute("DELETE FROM s3_buckets WHERE name = ?", (name,))

        try:
            await self.write(op)
        finally:
            self._forget(name)

    async def update_bucket(self, name: str, **values: Any) -> None:
        """Set `versioning` and/or `config` (a dict: the whole new config)."""
        assert values and set(values) <= _BUCKET_VALUES, values
        if "config" in values:
            values["config"] = orjson.dumps(values["config"]).decode()
        columns = sorted(values)
        sql = f"UPDATE s3_buckets SET {', '.join(f'{k} = ?' for k in columns)} WHERE name = ?"

        def op(c: sqlite3.Connection) -> None:
            if c.execute(sql, (*(values[k] for k in columns), name)).rowcount == 0:
                raise NoSuchBucket(BucketName=name)

        try:
            await self.write(op)
        finally:
            self._forget(name)

    # objects -------------------------------------------------------------------------------
    async def put(
        self,
        bucket: str,
        key: str,
        staged: Path | None,
        meta: ObjectMeta,
        synced: bool = False,
    ) -> ObjectVersion:
        """Make the file at `staged` (None: an empty object) the current version of
        bucket/key with `meta`, as the bucket's versioning says: a new version id when
        Enabled, else it replaces the "null" version. Durable when this returns; the file is
        moved (no longer at `staged`, unless it is a `files.reserve()` path: taken in place;
        `synced`: it is fsynced already). Raises NoSuchBucket."""
        blob = None
        if staged is not None:
            blob = self.files.name_of(staged)
            if blob is not None and synced:  # in place: no I/O here (its directory is
                self.files.adopt(staged, blob, synced=True)  # fsynced before the commit)
            else:
                blob = blob or self.files.new_name()
                await asyncio.to_thread(self.files.adopt, staged, blob, synced)

        def op(c: sqlite3.Connection) -> tuple[ObjectVersion, list[str]]:
            versioning = versioning_of(c, bucket)
            version_id = new_version_id() if versioning == "Enabled" else NULL_VERSION
            freed = unset_latest(c, bucket, key, replace_null=version_id == NULL_VERSION)
            row = insert_version(c, bucket, key, version_id, False, blob, meta)
            return row, freed

        version: ObjectVersion
        freed: list[str]
        try:
            version, freed = await self.write(op)
        except Exception:  # not committed (a cancelled caller's op may commit still: kept)
            if blob is not None:
                await asyncio.to_thread(self.files.remove, blob)
            raise
        await self._free(freed)
        return version

    async def _free(self, blobs: list[str]) -> None:
        for blob in blobs:
            await asyncio.to_thread(self.files.remove, blob)

    async def get(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion | None:
        """The latest version (may be a delete marker), or the given one."""
        which = "latest = 1" if version_id is None else "version_id = ?"
        sql = f"SELECT {VERSION_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ? AND {which}"
        params = (bucket, key) if version_id is None else (bucket, key, version_id)

        def read(c: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return c.execute(sql, params).fetchall()

        rows = await self.reader.run(read)
        return version_from_tuple(rows[0]) if rows else None

    async def lookup(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> tuple[str | None, ObjectVersion | None]:
        """(the bucket's owner: None if no such bucket, the version as `get`) in one query:
        the read path of every GET/HEAD."""
        which = "o.latest = 1" if version_id is None else "o.version_id = ?"
        columns = ", ".join(f"o.{name}" for name in VERSION_COLUMNS.split(", "))
        sql = (
            f"SELECT b.account_id, {columns} FROM s3_buckets b LEFT JOIN s3_objects o"
            f" ON o.bucket = b.name AND o.key = ? AND {which} WHERE b.name = ?"
        )
        params = (key, bucket) if version_id is None else (key, version_id, bucket)

        def read(c: sqlite3.Connection) -> tuple[Any, ...] | None:
            rows = c.execute(sql, params).fetchall()  # all: the statement ends its snapshot
            return tuple(rows[0]) if rows else None

        row = await self.reader.run(read)
        if row is None:
            return None, None
        owner, *version = row
        return owner, version_from_tuple(tuple(version)) if version[0] is not None else None

    async def delete(self, bucket: str, key: str, version_id: str | None = None) -> Deleted:
        """Without a version id: remove the object (unversioned), or put a delete marker on
        top (Enabled: a new version; Suspended: the "null" one). With one: remove exactly
        that version (a no-op if it doesn't exist). Raises NoSuchBucket."""

        def op(c: sqlite3.Connection) -> tuple[Deleted, list[str]]:
            versioning = versioning_of(c, bucket)
            if version_id is None and versioning is None:
                return remove_version(c, bucket, key, NULL_VERSION)
            if version_id is None:
                marker_id = new_version_id() if versioning == "Enabled" else NULL_VERSION
                freed = unset_latest(c, bucket, key, marker_id == NULL_VERSION)
                insert_version(c, bucket, key, marker_id, True, None, MARKER_META)
                return Deleted(marker_id, True, None), freed
            return remove_version(c, bucket, key, version_id)

        deleted: Deleted
        freed: list[str]
        deleted, freed = await self.write(op)
        await self._free(freed)
        return deleted

    async def set_meta(
        self, bucket: str, key: str, version_id: str | None, meta: ObjectMeta
    ) -> None:
        """Replace a version's metadata in place (tagging); the latest one if no id."""
        which = "latest = 1" if version_id is None else "version_id = ?"
        sql = f"UPDATE s3_objects SET meta = ? WHERE bucket = ? AND key = ? AND {which}"
        chosen = () if version_id is None else (version_id,)
        params = (encode(meta).decode(), bucket, key, *chosen)

        def op(c: sqlite3.Connection) -> None:
            c.execute(sql, params)

        await self.write(op)

    async def list_latest(
        self, bucket: str, prefix: str, after: str | None, limit: int, inclusive: bool = False
    ) -> list[ObjectVersion]:
        """Current (not deleted) versions with keys > `after` (>= if inclusive) starting
        with `prefix`, in key order (UTF-8 binary = code point order)."""
        query = select(o).where(
            o.c.bucket == bucket, o.c.latest.is_(True), o.c.delete_marker.is_(False)
        )
        query = _key_range(query, prefix, after, inclusive).order_by(o.c.key).limit(limit)
        async with self.db.engine.connect() as c:
            return [version_from_row(row) for row in await c.execute(query)]

    async def list_versions(
        self,
        bucket: str,
        prefix: str,
        key_marker: str | None,
        after_seq: int | None,
        limit: int,
        inclusive: bool = False,
    ) -> list[ObjectVersion]:
        """Every version and marker, by key then newest first: keys after `key_marker`
        (from it if inclusive), or its versions older than seq `after_seq` and later keys."""
        query = select(o).where(o.c.bucket == bucket)
        if key_marker is not None and after_seq is not None:
            query = query.where(
                or_(o.c.key > key_marker, and_(o.c.key == key_marker, o.c.id < after_seq))
            )
            query = _key_range(query, prefix, None)
        else:
            query = _key_range(query, prefix, key_marker, inclusive)
        query = query.order_by(o.c.key, o.c.id.desc()).limit(limit)
        async with self.db.engine.connect() as c:
            return [version_from_row(row) for row in await c.execute(query)]

    async def count(self, bucket: str) -> int:
        async with self.db.engine.connect() as c:
            found = await c.scalar(select(func.count()).select_from(o).where(o.c.bucket == bucket))
        return int(found or 0)


def _key_range(query: Any, prefix: str, after: str | None, inclusive: bool = False) -> Any:
    if prefix:
        query = query.where(o.c.key >= prefix, func.substr(o.c.key, 1, len(prefix)) == prefix)
    if after is not None:
        query = query.where(o.c.key >= after if inclusive else o.c.key > after)
    return query
