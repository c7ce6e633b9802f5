"""email: notification preferences, visitor unsubscribe, digest marker, bot tokens' site

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notify_unanswered_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("notify_mentions", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_unsubscribed_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("emailed_through", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_site_id_sites"),
            "sites",
            ["site_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_site_id_sites"), type_="foreignkey")
        batch_op.drop_column("site_id")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("emailed_through")
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.drop_column("email_unsubscribed_at")
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.drop_column("notify_mentions")
        batch_op.drop_column("notify_unanswered_minutes")
