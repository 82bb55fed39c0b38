"""SNS topics and subscriptions.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sns_topics",
        sa.Column("arn", sa.String(512), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),  # JSON: the settable attributes
        sa.Column("tags", sa.Text, nullable=False),  # JSON: {key: value}
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "sns_subscriptions",
        sa.Column("arn", sa.String(1024), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("topic_arn", sa.String(512), nullable=False),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),  # JSON: the settable attributes
        sa.Column("confirmed", sa.Boolean, nullable=False),
        sa.Column("token", sa.String(256), nullable=True),  # pending confirmations only
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_sns_subscriptions_topic", "sns_subscriptions", ["topic_arn"])


def downgrade() -> None:
    op.drop_index("ix_sns_subscriptions_topic", "sns_subscriptions")
    op.drop_table("sns_subscriptions")
    op.drop_table("sns_topics")
