"""routing: sites' assignment, assign_on_reply and round-robin pointer; messages' mentions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assignment", sa.String(length=20), nullable=False, server_default="manual")
        )
        batch_op.add_column(
            sa.Column("assign_on_reply", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("last_assigned_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mentions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("mentions")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("last_assigned_id")
        batch_op.drop_column("assign_on_reply")
        batch_op.drop_column("assignment")
