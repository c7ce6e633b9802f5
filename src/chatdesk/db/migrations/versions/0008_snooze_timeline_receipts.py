"""snooze, timeline entries and read receipts

Conversations gain ``snoozed_until`` and both sides' read marks; messages gain the
``kind`` and ``data`` of a timeline entry (a system message).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("visitor_read_message_id", sa.String(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("operator_read_message_id", sa.String(length=32), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_conversations_status_snoozed_until"), ["status", "snoozed_until"]
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("data", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Timeline entries are system messages: they go with the columns that describe them.
    op.execute(sa.text("DELETE FROM messages WHERE kind IS NOT NULL"))
    op.execute(sa.text("UPDATE conversations SET status = 'open' WHERE status = 'snoozed'"))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("data")
        batch_op.drop_column("kind")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_status_snoozed_until"))
        batch_op.drop_column("operator_read_message_id")
        batch_op.drop_column("visitor_read_message_id")
        batch_op.drop_column("snoozed_until")
