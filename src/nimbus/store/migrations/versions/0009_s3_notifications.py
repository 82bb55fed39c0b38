"""S3 bucket notification configurations (one JSON document per bucket).

Revision ID: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "s3_notifications",
        sa.Column("account_id", sa.String(12), primary_key=True),
        # Deleting the bucket deletes its configuration (a new bucket of that name starts
        # without notifications, as on AWS).
        sa.Column(
            "bucket",
            sa.String(63),
            sa.ForeignKey("s3_buckets.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("s3_notifications")
