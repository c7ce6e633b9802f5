"""operator_totp, operator_recovery_codes: two-factor sign-in with TOTP (ADR 0022)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_totp",
        sa.Column("operator_id", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("pending_secret", sa.String(length=200), nullable=True),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_totp_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("operator_id", name=op.f("pk_operator_totp")),
    )
    op.create_table(
        "operator_recovery_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("operator_id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_recovery_codes_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_recovery_codes")),
    )
    op.create_index(
        op.f("ix_operator_recovery_codes_operator_id"), "operator_recovery_codes", ["operator_id"]
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_operator_recovery_codes_operator_id"), table_name="operator_recovery_codes"
    )
    op.drop_table("operator_recovery_codes")
    op.drop_table("operator_totp")
