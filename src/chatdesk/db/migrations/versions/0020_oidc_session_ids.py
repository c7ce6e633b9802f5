"""single sign-on sessions keep the provider's subject and session id, which a
back-channel logout names (ADR 0034)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("operator_sessions", sa.Column("oidc_sub", sa.String(length=255), nullable=True))
    op.add_column("operator_sessions", sa.Column("oidc_sid", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_operator_sessions_oidc_sub"), "operator_sessions", ["oidc_sub"])
    op.create_index(op.f("ix_operator_sessions_oidc_sid"), "operator_sessions", ["oidc_sid"])


def downgrade() -> None:
    op.drop_index(op.f("ix_operator_sessions_oidc_sid"), table_name="operator_sessions")
    op.drop_index(op.f("ix_operator_sessions_oidc_sub"), table_name="operator_sessions")
    op.drop_column("operator_sessions", "oidc_sid")
    op.drop_column("operator_sessions", "oidc_sub")
