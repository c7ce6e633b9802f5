"""operator_tokens: single-use links to set a password, by email (ADR 0023)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("operator_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_tokens_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_operator_tokens_token_hash")),
    )
    op.create_index(op.f("ix_operator_tokens_operator_id"), "operator_tokens", ["operator_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_operator_tokens_operator_id"), table_name="operator_tokens")
    op.drop_table("operator_tokens")
