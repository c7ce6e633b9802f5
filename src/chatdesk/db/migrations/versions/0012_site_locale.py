"""site locale: the widget's language setting and the site's own strings per locale

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locale", sa.String(length=35), nullable=False, server_default="auto")
        )
        batch_op.add_column(
            sa.Column("strings", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("strings")
        batch_op.drop_column("locale")
