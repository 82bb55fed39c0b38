"""S3's tables (created by migration 0007_s3): buckets, and every object version.

One row per version: an unversioned bucket's object is the version "null". `latest` marks
the current version of a key (what GET and ListObjects see); delete markers are rows
without a blob. `meta` is JSON (content headers, user metadata, checksums, tags).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

s3_buckets = sa.Table(
    "s3_buckets",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),  # bucket names are global
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("versioning", sa.String(16), nullable=True),  # None | Enabled | Suspended
    sa.Column("config", sa.Text, nullable=False, server_default="{}"),  # other bucket settings
)

s3_objects = sa.Table(
    "s3_objects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # grows per change
    sa.Column("bucket", sa.String(63), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("version_id", sa.String(64), nullable=False),
    sa.Column("latest", sa.Boolean, nullable=False),
    sa.Column("delete_marker", sa.Boolean, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(80), nullable=False),
    sa.Column("last_modified", sa.Float, nullable=False),
    sa.Column("blob", sa.String(64), nullable=True),  # file name under blobs/; None: marker
    sa.Column("meta", sa.Text, nullable=False),
    sa.UniqueConstraint("bucket", "key", "version_id", name="uq_s3_objects_version"),
    sa.Index("ix_s3_objects_latest", "bucket", "latest", "key"),
    sqlite_autoincrement=True,  # ids never reused: event sequencers only grow
)
