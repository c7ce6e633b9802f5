"""canned responses per site or global; their shortcut unique per site

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-14 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

GLOBAL_ONLY = sa.text("site_id IS NULL")


def upgrade() -> None:
    # Every existing response stays global (site_id NULL), as it was.
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_canned_responses_site_id_sites"),
            "sites",
            ["site_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_constraint(batch_op.f("uq_canned_responses_shortcut"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_canned_responses_site_id_shortcut"), ["site_id", "shortcut"]
        )
    op.create_index(
        "uq_canned_responses_global_shortcut",
        "canned_responses",
        ["shortcut"],
        unique=True,
        sqlite_where=GLOBAL_ONLY,
        postgresql_where=GLOBAL_ONLY,
    )


def downgrade() -> None:
    # Only possible while shortcuts are unique across sites, as they had to be before.
    op.drop_index("uq_canned_responses_global_shortcut", table_name="canned_responses")
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_canned_responses_site_id_shortcut"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_canned_responses_shortcut"), ["shortcut"])
        batch_op.drop_constraint(
            batch_op.f("fk_canned_responses_site_id_sites"), type_="foreignkey"
        )
        batch_op.drop_column("updated_at")
        batch_op.drop_column("site_id")
