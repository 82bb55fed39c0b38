"""SQS queues and messages.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sqs_queues",
        sa.Column("qid", sa.String(32), primary_key=True),  # random: a recreated queue is new
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),  # JSON, AWS' names and strings
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("modified", sa.Float, nullable=False),
        sa.UniqueConstraint("account_id", "name", name="uq_sqs_queues_name"),
    )
    # Rows keyed by an integer Nimbus assigns in send order: appends at the end of the
    # table, 8 us a message where a WITHOUT ROWID table keyed by the (random) message id
    # took 37-50 us (measured); deletes and updates go by that key too.
    op.create_table(
        "sqs_messages",
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("qid", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text, nullable=True),  # JSON; binary values base64
        sa.Column("sent", sa.Float, nullable=False),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("visible_at", sa.Float, nullable=False),  # end of DelaySeconds
        sa.Column("group_id", sa.String(128), nullable=True),
        sa.Column("dedup_id", sa.String(128), nullable=True),
        sa.Column("receive_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_receive", sa.Float, nullable=True),
        sa.Column("extra", sa.Text, nullable=True),  # JSON: system attributes, DLQ source
    )


def downgrade() -> None:
    op.drop_table("sqs_messages")
    op.drop_table("sqs_queues")
