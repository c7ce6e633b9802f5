"""identity token replay protection; visitor token inactivity

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "identity_replay_protection",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    with op.batch_alter_table("visitor_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    # Existing tokens count as last used when they were made.
    op.execute("UPDATE visitor_tokens SET last_used_at = created_at")
    with op.batch_alter_table("visitor_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "last_used_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
    op.create_table(
        "identity_token_uses",
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_identity_token_uses_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "jti", name=op.f("pk_identity_token_uses")),
    )
    with op.batch_alter_table("identity_token_uses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_token_uses_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_token_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_token_uses_expires_at"))
    op.drop_table("identity_token_uses")
    with op.batch_alter_table("visitor_tokens", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("identity_replay_protection")
