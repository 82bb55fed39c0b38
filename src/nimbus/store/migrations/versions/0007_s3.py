"""S3 buckets and objects.

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "s3_buckets",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("versioning", sa.String(16), nullable=True),
        sa.Column("config", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_table(
        "s3_objects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("latest", sa.Boolean, nullable=False),
        sa.Column("delete_marker", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("etag", sa.String(80), nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
        sa.Column("blob", sa.String(64), nullable=True),
        sa.Column("meta", sa.Text, nullable=False),
        sa.UniqueConstraint("bucket", "key", "version_id", name="uq_s3_objects_version"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_s3_objects_latest", "s3_objects", ["bucket", "latest", "key"])


def downgrade() -> None:
    op.drop_index("ix_s3_objects_latest", "s3_objects")
    op.drop_table("s3_objects")
    op.drop_table("s3_buckets")
