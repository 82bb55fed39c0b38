"""S3's records: object metadata, buckets, versions; their rows; and the statements of the
store's writes, run on its writer thread (plain sqlite3 inside a group commit, see
s3_commit.py and objects.py)."""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from nimbus.errors import NoSuchBucket

NULL_VERSION = "null"  # the version id of objects written while versioning is off/suspended


class ObjectMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an object version carries besides its bytes."""

    size: int
    etag: str  # without quotes: MD5 hex, or "<md5 of part md5s>-<parts>" for multipart
    content_type: str = "binary/octet-stream"
    headers: dict[str, str] = {}  # Content-Encoding/-Disposition/-Language, Cache-Control...
    metadata: dict[str, str] = {}  # x-amz-meta-* (name without the prefix, lower case)
    checksums: dict[str, str] = {}  # "CRC32" | "CRC32C" | "SHA1" | "SHA256" | ... -> base64
    checksum_type: str | None = None  # FULL_OBJECT | COMPOSITE (multipart)
    tags: dict[str, str] = {}
    storage_class: str = "STANDARD"
    parts_count: int | None = None
    part_sizes: list[int] | None = None  # multipart: each part's size (GetObject?partNumber)


encode = msgspec.json.Encoder().encode
decode_meta = msgspec.json.Decoder(ObjectMeta).decode
MARKER_META = ObjectMeta(size=0, etag="")


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    account_id: str
    region: str
    created: float
    versioning: str | None = None  # None (never enabled) | "Enabled" | "Suspended"
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    bucket: str
    key: str
    version_id: str  # NULL_VERSION unless written with versioning enabled
    latest: bool
    delete_marker: bool
    last_modified: float
    blob: str | None  # None for delete markers
    meta: ObjectMeta
    seq: int  # grows with every change to the store (event sequencers)

    @property
    def size(self) -> int:
        return self.meta.size

    @property
    def etag(self) -> str:
        return self.meta.etag


@dataclass(frozen=True, slots=True)
class Deleted:
    version_id: str | None  # the version removed or the marker created (None: unversioned)
    delete_marker: bool  # a marker was created, or the version removed was one
    removed: ObjectVersion | None  # the version that is gone, if any


def new_version_id() -> str:
    return secrets.token_urlsafe(24)  # 32 URL-safe characters


def bucket_from_row(row: Any) -> Bucket:
    return Bucket(
        row.name, row.account_id, row.region, row.created, row.versioning, orjson.loads(row.config)
    )


# The write side runs on the group commit's writer thread (plain sqlite3, s3_commit.py).
BUCKET_COLUMNS = "name, account_id, region, created, versioning, config"
VERSION_COLUMNS = "id, bucket, key, version_id, latest, delete_marker, last_modified, blob, meta"
_INSERT_VERSION = (
    "INSERT INTO s3_objects (bucket, key, version_id, latest, delete_marker, size, etag,"
    " last_modified, blob, meta) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)"
)


def bucket_from_tuple(row: tuple[Any, ...]) -> Bucket:
    name, account_id, region, created, versioning, config = row
    return Bucket(name, account_id, region, created, versioning, orjson.loads(config))


def version_from_tuple(row: tuple[Any, ...]) -> ObjectVersion:
    seq, bucket, key, version_id, latest, marker, modified, blob, meta = row
    return ObjectVersion(
        bucket, key, version_id, bool(latest), bool(marker), modified, blob, decode_meta(meta), seq
    )


def versioning_of(c: sqlite3.Connection, bucket: str) -> str | None:
    """The bucket's versioning status; NoSuchBucket."""
    row = c.execute("SELECT versioning FROM s3_buckets WHERE name = ?", (bucket,)).fetchone()
    if row is None:
        raise NoSuchBucket(BucketName=bucket)
    versioning: str | None = row[0]
    return versioning


def version_from_row(row: Any) -> ObjectVersion:
    return ObjectVersion(
        row.bucket,
        row.key,
        row.version_id,
        bool(row.latest),
        bool(row.delete_marker),
        row.last_modified,
        row.blob,
        decode_meta(row.meta),
        row.id,
    )


def unset_latest(c: sqlite3.Connection, bucket: str, key: str, replace_null: bool) -> list[str]:
    """Before a new latest version: the old one is no longer latest; a "null" version is
    replaced (its row deleted). The blobs to unlink after the commit."""
    freed: list[str] = []
    if replace_null:
        replaced = c.execute(
            "DELETE FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ? RETURNING blob",
            (bucket, key, NULL_VERSION),
        ).fetchall()
        freed += [blob for (blob,) in replaced if blob]
    c.execute(
        "UPDATE s3_objects SET latest = 0 WHERE bucket = ? AND latest = 1 AND key = ?",
        (bucket, key),
    )
    return freed


def insert_version(
    c: sqlite3.Connection,
    bucket: str,
    key: str,
    version_id: str,
    marker: bool,
    blob: str | None,
    meta: ObjectMeta,
) -> ObjectVersion:
    now = time.time()
    values = (bucket, key, version_id, marker, meta.size, meta.etag, now, blob)
    cursor = c.execute(_INSERT_VERSION, (*values, encode(meta).decode()))
    seq = int(cursor.lastrowid or 0)
    return ObjectVersion(bucket, key, version_id, True, marker, now, blob, meta, seq)


def remove_version(
    c: sqlite3.Connection, bucket: str, key: str, version_id: str
) -> tuple[Deleted, list[str]]:
    row = c.execute(
        f"SELECT {VERSION_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
        (bucket, key, version_id),
    ).fetchone()
    if row is None:
        return Deleted(version_id if version_id != NULL_VERSION else None, False, None), []
    removed = version_from_tuple(row)
    c.execute("DELETE FROM s3_objects WHERE id = ?", (removed.seq,))
    if removed.latest:  # the next newest version becomes the current one
        c.execute(
            "UPDATE s3_objects SET latest = 1 WHERE id = "
            "(SELECT max(id) FROM s3_objects WHERE bucket = ? AND key = ?)",
            (bucket, key),
        )
    freed = [removed.blob] if removed.blob else []
    return Deleted(version_id, removed.delete_marker, removed), freed
