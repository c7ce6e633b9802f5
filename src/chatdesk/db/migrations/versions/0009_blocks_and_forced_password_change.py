"""visitor blocks; visitors' blocked_until and last_ip; operators' must_change_password

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visitor_blocks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_visitor_blocks_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_visitor_blocks_visitor_id_visitors"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["operators.id"],
            name=op.f("fk_visitor_blocks_created_by_operators"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lifted_by"],
            ["operators.id"],
            name=op.f("fk_visitor_blocks_lifted_by_operators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_blocks")),
    )
    op.create_index(
        op.f("ix_visitor_blocks_site_id_expires_at"),
        "visitor_blocks",
        ["site_id", "expires_at"],
    )
    op.create_index(op.f("ix_visitor_blocks_visitor_id"), "visitor_blocks", ["visitor_id"])
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_ip", sa.String(length=64), nullable=True))
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.drop_column("last_ip")
        batch_op.drop_column("blocked_until")
    op.drop_index(op.f("ix_visitor_blocks_visitor_id"), table_name="visitor_blocks")
    op.drop_index(op.f("ix_visitor_blocks_site_id_expires_at"), table_name="visitor_blocks")
    op.drop_table("visitor_blocks")
