"""EventBridge rules and their targets.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_rules",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("schedule", sa.String(256), nullable=True),
        sa.Column("pattern", sa.Text, nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("role_arn", sa.String(1600), nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("anchor", sa.Float, nullable=False),
        sa.Column("fired_until", sa.Float, nullable=False),
    )
    op.create_table(
        "event_targets",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("rule", sa.String(64), primary_key=True),
        sa.Column("target_id", sa.String(64), primary_key=True),
        sa.Column("arn", sa.String(1600), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_targets")
    op.drop_table("event_rules")
