"""Asynchronous invocations and their configuration.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "async_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("function", sa.String(64), nullable=False),
        sa.Column("qualifier", sa.String(128), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_async_events_due", "async_events", ["due"])
    op.create_table(
        "event_invoke_configs",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("function", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_async_events_due", "async_events")
    op.drop_table("async_events")
    op.drop_table("event_invoke_configs")
