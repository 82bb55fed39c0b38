"""Multipart uploads in progress: rows in SQLite (migration 0008), part data in files under
`<data>/s3-multipart/<upload id>/`.

A part is durable before its 2xx: its file is fsynced, then its row committed. Concurrent
writes share one transaction (store/s3_commit.GroupCommit, as object commits do). A part's
file has a unique name per attempt, so a re-upload of the same part number never overwrites
the data the current row points at; the replaced file is removed after the commit. At
start, files and directories no row points at (a crash between the two steps) are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
)

from nimbus.store.s3_commit import GroupCommit
from nimbus.store.sqlite import Database

# The tables of migration 0008 (kept here: only this module reads or writes them).
_meta = MetaData()
s3_uploads = Table(
    "s3_uploads",
    _meta,
    Column("upload_id", String(128), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("bucket", String(63), nullable=False),
    Column("key", String(1024), nullable=False),
    Column("initiated", Float, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("storage_class", String(32), nullable=False),
    Column("checksum_algorithm", String(16)),
    Column("checksum_type", String(16)),
    Column("attributes", Text, nullable=False),
)
UPLOAD_COLUMNS = tuple(column.name for column in s3_uploads.columns)

s3_parts = Table(
    "s3_parts",
    _meta,
    Column("upload_id", String(128), ForeignKey("s3_uploads.upload_id"), primary_key=True),
    Column("part_number", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(32), nullable=False),
    Column("checksum", String(64)),
    Column("last_modified", Float, nullable=False),
    Column("file", String(128), nullable=False),
)


@dataclass(frozen=True)
class Upload:
    upload_id: str
    account_id: str
    bucket: str
    key: str
    initiated: float
    owner: str
    storage_class: str
    checksum_algorithm: str | None
    checksum_type: str | None
    attributes: dict[str, Any]  # what the object gets: content type, metadata, ...

    def row(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "account_id": self.account_id,
            "bucket": self.bucket,
            "key": self.key,
            "initiated": self.initiated,
            "owner": self.owner,
            "storage_class": self.storage_class,
            "checksum_algorithm": self.checksum_algorithm,
            "checksum_type": self.checksum_type,
            "attributes": orjson.dumps(self.attributes).decode(),
        }


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str  # MD5 hex, unquoted
    checksum: str | None  # base64 of the upload's checksum algorithm
    last_modified: float
    file: str


def _upload(row: Any) -> Upload:
    return Upload(
        row.upload_id,
        row.account_id,
        row.bucket,
        row.key,
        row.initiated,
        row.owner,
        row.storage_class,
        row.checksum_algorithm,
        row.checksum_type,
        orjson.loads(row.attributes),
    )


def _part(row: Any) -> Part:
    return Part(row.part_number, row.size, row.etag, row.checksum, row.last_modified, row.file)


def new_upload_id() -> str:
    """Sorts by creation time (ListMultipartUploads orders a key's uploads by initiation and
    pages with upload-id-marker, which AWS compares lexicographically)."""
    return f"{time.time_ns():016x}{secrets.token_hex(20)}"


_INSERT_UPLOAD = (
    f"INSERT INTO s3_uploads ({', '.join(UPLOAD_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in UPLOAD_COLUMNS)})"
)
_UPSERT_PART = (
    "INSERT INTO s3_parts (upload_id, part_number, size, etag, checksum, last_modified, file) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (upload_id, part_number) DO UPDATE SET "
    "size = excluded.size, etag = excluded.etag, checksum = excluded.checksum, "
    "last_modified = excluded.last_modified, file = excluded.file"
)


class UploadStore:
    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = root
        self._commits = GroupCommit(db, "multipart operations", name="s3-multipart")

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        await self._sweep()
        await self._commits.start()

    async def close(self) -> None:
        await self._commits.close()

    async def _sweep(self) -> None:
        """Remove part files and upload directories that no row points at."""
        async with self.db.engine.connect() as c:
            uploads = set((await c.execute(select(s3_uploads.c.upload_id))).scalars())
            files = {
                (r.upload_id, r.file)
                for r in await c.execute(select(s3_parts.c.upload_id, s3_parts.c.file))
            }

        def sweep() -> None:
            for directory in self.root.iterdir():
                if directory.name not in uploads:
                    shutil.rmtree(directory, ignore_errors=True)
                    continue
                for path in directory.iterdir():
                    if (directory.name, path.name) not in files:
                        path.unlink(missing_ok=True)

        await asyncio.to_thread(sweep)

    # uploads -----------------------------------------------------------------------------
    def directory(self, upload_id: str) -> Path:
        return self.root / upload_id

    async def create(self, upload: Upload) -> None:
        await asyncio.to_thread(self.directory(upload.upload_id).mkdir, exist_ok=True)

        row = upload.row()
        await self._commits.write(
            lambda c: c.execute(_INSERT_UPLOAD, [row[name] for name in UPLOAD_COLUMNS])
        )

    async def get(self, upload_id: str) -> Upload | None:
        async with self.db.engine.connect() as c:
            row = (
                await c.execute(select(s3_uploads).where(s3_uploads.c.upload_id == upload_id))
            ).first()
        return _upload(row) if row is not None else None

    async def delete(self, upload_id: str) -> bool:
        """Forget the upload and remove its part files; False if it was not there."""

        def op(c: sqlite3.Connection) -> bool:
            c.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
            return (
                c.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,)).rowcount > 0
            )

        found: bool = await self._commits.write(op)
        await asyncio.to_thread(shutil.rmtree, self.directory(upload_id), True)
        return found

    async def list_uploads(
        self, account: str, bucket: str, prefix: str, after: tuple[str, str] | None, limit: int
    ) -> list[Upload]:
        """Uploads of a bucket ordered by (key, upload id), after (key, upload id)."""
        query = select(s3_uploads).where(
            s3_uploads.c.account_id == account, s3_uploads.c.bucket == bucket
        )
        if prefix:
            query = query.where(func.substr(s3_uploads.c.key, 1, len(prefix)) == prefix)
        if after is not None:
            key, upload_id = after
            query = query.where(
                or_(
                    s3_uploads.c.key > key,
                    and_(s3_uploads.c.key == key, s3_uploads.c.upload_id > upload_id),
                )
            )
        query = query.order_by(s3_uploads.c.key, s3_uploads.c.upload_id).limit(limit)
        async with self.db.engine.connect() as c:
            rows = (await c.execute(query)).all()
        return [_upload(r) for r in rows]

    async def buckets(self) -> list[tuple[str, str]]:
        """(account, bucket) of every bucket with uploads in progress."""
        query = select(s3_uploads.c.account_id, s3_uploads.c.bucket).distinct()
        async with self.db.engine.connect() as c:
            return [(r[0], r[1]) for r in await c.execute(query)]

    async def ids_in_bucket(self, account: str, bucket: str) -> list[str]:
        query = select(s3_uploads.c.upload_id).where(
            s3_uploads.c.account_id == account, s3_uploads.c.bucket == bucket
        )
        async with self.db.engine.connect() as c:
            return list((await c.execute(query)).scalars())

    async def count_in_bucket(self, account: str, bucket: str) -> int:
        query = select(func.count()).where(
            s3_uploads.c.account_id == account, s3_uploads.c.bucket == bucket
        )
        async with self.db.engine.connect() as c:
            return int(await c.scalar(query) or 0)

    # parts -------------------------------------------------------------------------------
    def new_part_file(self, upload_id: str, number: int) -> Path:
        """A fresh file name for one attempt at a part."""
        return self.directory(upload_id) / f"{number:05d}-{secrets.token_hex(6)}.part"

    def part_path(self, upload_id: str, part: Part) -> Path:
        return self.directory(upload_id) / part.file

    async def put_part(self, upload_id: str, part: Part) -> bool:
        """Record a part whose file is written and fsynced. False (and the file removed) if
        the upload is gone meanwhile; a part it replaces has its file removed."""

        def op(c: sqlite3.Connection) -> tuple[bool, str | None]:
            found = c.execute("SELECT 1 FROM s3_uploads WHERE upload_id = ?", (upload_id,))
            if found.fetchone() is None:
                return False, None
            old = c.execute(
                "SELECT file FROM s3_parts WHERE upload_id = ? AND part_number = ?",
                (upload_id, part.number),
            ).fetchone()
            values = (upload_id, part.number, part.size, part.etag, part.checksum,
                      part.last_modified, part.file)  # fmt: skip
            c.execute(_UPSERT_PART, values)
            return True, old[0] if old else None

        stored, replaced = await self._commits.write(op)
        stale = self.part_path(upload_id, part) if not stored else None
        if replaced is not None and replaced != part.file:
            stale = self.directory(upload_id) / replaced
        if stale is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.unlink, stale)
        return bool(stored)

    async def parts(self, upload_id: str, after: int = 0, limit: int | None = None) -> list[Part]:
        query = (
            select(s3_parts)
            .where(s3_parts.c.upload_id == upload_id, s3_parts.c.part_number > after)
            .order_by(s3_parts.c.part_number)
        )
        if limit is not None:
            query = query.limit(limit)
        async with self.db.engine.connect() as c:
            rows = (await c.execute(query)).all()
        return [_part(r) for r in rows]


__all__ = ["Part", "Upload", "UploadStore", "new_upload_id", "s3_parts", "s3_uploads"]
