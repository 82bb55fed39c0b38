"""S3 multipart uploads in progress and their parts (the part data are files).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "s3_uploads",
        sa.Column("upload_id", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("initiated", sa.Float, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("storage_class", sa.String(32), nullable=False),
        sa.Column("checksum_algorithm", sa.String(16), nullable=True),
        sa.Column("checksum_type", sa.String(16), nullable=True),
        sa.Column("attributes", sa.Text, nullable=False),  # JSON: headers kept for the object
    )
    op.create_index("s3_uploads_by_key", "s3_uploads", ["account_id", "bucket", "key", "initiated"])
    op.create_table(
        "s3_parts",
        sa.Column(
            "upload_id",
            sa.String(128),
            sa.ForeignKey("s3_uploads.upload_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("part_number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("etag", sa.String(32), nullable=False),  # MD5 hex
        sa.Column("checksum", sa.String(64), nullable=True),  # base64, upload's algorithm
        sa.Column("last_modified", sa.Float, nullable=False),
        sa.Column("file", sa.String(128), nullable=False),  # name in the upload's directory
    )


def downgrade() -> None:
    op.drop_table("s3_parts")
    op.drop_index("s3_uploads_by_key", table_name="s3_uploads")
    op.drop_table("s3_uploads")
