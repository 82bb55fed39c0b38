"""Lambda event source mappings.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_source_mappings",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("function_name", sa.String(64), nullable=False),
        sa.Column("event_source_arn", sa.String(1024), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("config", sa.Text, nullable=False),  # the AWS configuration as JSON
    )
    op.create_index(
        "ix_esm_account_source", "event_source_mappings", ["account_id", "event_source_arn"]
    )
    op.create_index(
        "ix_esm_account_function", "event_source_mappings", ["account_id", "function_name"]
    )


def downgrade() -> None:
    op.drop_table("event_source_mappings")
