"""site theme and operator avatars: the widget's colours follow the visitor's light or dark
setting or a fixed one; an operator's uploaded picture (its version; the file is in the store)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 14:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("theme", sa.String(length=5), nullable=False, server_default="auto")
        )
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("avatar", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.drop_column("avatar")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("theme")
