"""report timings: first response and resolution stored on the conversation (ADR 0026)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 17:00:00.000000
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from chatdesk.business_hours import is_open

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_REPORTED = ["site_id", "in_business_hours", "assignee_id"]
# Covering indexes: a report over a year reads them only, never the rows.
_INDEXES = {
    "ix_conversations_report_started": ["created_at", *_REPORTED, "message_count"],
    "ix_conversations_report_first_response": [
        "first_response_at",
        *_REPORTED,
        "first_response_seconds",
    ],
    "ix_conversations_report_resolved": ["resolved_at", *_REPORTED, "resolution_seconds"],
    "ix_conversations_report_rated": ["rated_at", *_REPORTED, "rating_score"],
}


def _seconds(dialect: str, later: str, earlier: str) -> str:
    if dialect == "postgresql":
        return f"CAST(ROUND(EXTRACT(EPOCH FROM ({later} - {earlier}))) AS INTEGER)"
    return f"CAST(ROUND((julianday({later}) - julianday({earlier})) * 86400.0) AS INTEGER)"


def upgrade() -> None:
    # Plain ALTER TABLE, never batch mode's copy of the table: on SQLite that copy drops
    # the old table, and with foreign keys on the drop would delete every message.
    for column in (
        sa.Column("first_response_at", sa.DateTime(timezone=True)),
        sa.Column("first_response_seconds", sa.Integer()),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolution_seconds", sa.Integer()),
        sa.Column("in_business_hours", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("message_count", sa.Integer(), nullable=False, server_default="0"),
    ):
        op.add_column("conversations", column)
    _backfill()
    for name, columns in _INDEXES.items():
        op.create_index(name, "conversations", columns, unique=False)


def _backfill() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    # The first public reply of an operator (bots and notes do not count: ADR 0026).
    op.execute(
        sa.text(
            "UPDATE conversations SET first_response_at = (SELECT MIN(m.created_at) "
            "FROM messages m WHERE m.conversation_id = conversations.id "
            "AND m.author_type = 'operator' AND m.private = :no)"
        ).bindparams(no=False)
    )
    op.execute(
        sa.text(
            "UPDATE conversations SET message_count = (SELECT COUNT(*) FROM messages m "
            "WHERE m.conversation_id = conversations.id AND m.private = :no)"
        ).bindparams(no=False)
    )
    # A resolved conversation: when the timeline last told "resolved", else its last change.
    resolved_when = (
        "SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = conversations.id "
        "AND m.kind = 'status' AND m.data LIKE '%\"status\": \"resolved\"%'"
    )
    if dialect == "postgresql":
        resolved_when = (
            "SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = "
            "conversations.id AND m.kind = 'status' AND (m.data::jsonb ->> 'status') = 'resolved'"
        )
    # Constant SQL (no input in it): only the dialect's spelling differs.
    resolved = "UPDATE conversations SET resolved_at = COALESCE((" + resolved_when  # noqa: S608
    op.execute(sa.text(resolved + "), updated_at) WHERE status = 'resolved'"))
    first = _seconds(dialect, "first_response_at", "created_at")
    resolution = _seconds(dialect, "resolved_at", "created_at")
    op.execute(
        sa.text(
            f"UPDATE conversations SET first_response_seconds = {first}, "  # noqa: S608
            f"resolution_seconds = {resolution}"
        )
    )
    _backfill_business_hours(bind)


def _backfill_business_hours(bind: Any) -> None:
    """Conversations of sites with business hours: whether each started inside them."""
    sites = bind.execute(
        sa.text("SELECT id, business_hours FROM sites WHERE business_hours IS NOT NULL")
    ).all()
    for site_id, raw in sites:
        # SQLite hands JSON back as text, psycopg already parsed.
        hours: dict[str, Any] | None = json.loads(raw) if isinstance(raw, str) else raw
        if not hours:
            continue
        rows = bind.execute(
            sa.text("SELECT id, created_at FROM conversations WHERE site_id = :s"), {"s": site_id}
        ).all()
        closed = [row[0] for row in rows if not is_open(hours, _aware(row[1]))]
        for start in range(0, len(closed), 500):
            bind.execute(
                sa.text("UPDATE conversations SET in_business_hours = :no WHERE id IN :ids")
                .bindparams(sa.bindparam("ids", expanding=True))
                .bindparams(no=False),
                {"ids": closed[start : start + 500]},
            )


def _aware(value: Any) -> datetime:
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35 and later), for the reason upgrade gives.
    for name in reversed(_INDEXES):
        op.drop_index(name, "conversations")
    for column in (
        "message_count",
        "in_business_hours",
        "resolution_seconds",
        "resolved_at",
        "first_response_seconds",
        "first_response_at",
    ):
        op.drop_column("conversations", column)
