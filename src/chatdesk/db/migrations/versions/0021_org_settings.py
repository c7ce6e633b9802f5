"""organisation-wide settings: an owner may require two-factor sign-in for everyone
(ADR 0030)

Revision ID: 0021
Revises: 0015
Create Date: 2026-12-06 17:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_org_settings")),
    )


def downgrade() -> None:
    op.drop_table("org_settings")
