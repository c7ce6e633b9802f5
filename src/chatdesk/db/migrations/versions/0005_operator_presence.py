"""operator presence: the away choice, max_open; sites' require_agent_online, reply_time

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

REPLY_TIME = "We usually reply in a few minutes"


def upgrade() -> None:
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("away", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("max_open", sa.Integer(), nullable=True))
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_agent_online", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column(
                "reply_time", sa.String(length=200), nullable=False, server_default=REPLY_TIME
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("reply_time")
        batch_op.drop_column("require_agent_online")
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.drop_column("max_open")
        batch_op.drop_column("away")
