"""An operator's signed-in devices: their live sessions (Sessions page, ADR 0030)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from chatdesk.clock import aware, iso
from chatdesk.db.tables import operator_sessions
from chatdesk.security.user_agents import device_summary
from chatdesk.shape_types import SignedInDevice

__all__ = ["live_sessions"]


def live_sessions(
    conn: Connection,
    operator_id: str,
    *,
    now: datetime,
    idle: timedelta,
    current_session_id: str | None,
) -> list[SignedInDevice]:
    """The operator's sessions still usable at ``now`` (not revoked, expired or idle too
    long), the most recently seen first."""
    rows = conn.execute(
        select(
            operator_sessions.c.id,
            operator_sessions.c.user_agent,
            operator_sessions.c.ip,
            operator_sessions.c.created_at,
            operator_sessions.c.last_seen_at,
        )
        .where(
            operator_sessions.c.operator_id == operator_id,
            operator_sessions.c.revoked_at.is_(None),
            operator_sessions.c.expires_at > now,
            operator_sessions.c.last_seen_at > now - idle,
        )
        .order_by(operator_sessions.c.last_seen_at.desc(), operator_sessions.c.id)
    )
    return [
        {
            "id": row.id,
            "device": device_summary(row.user_agent),
            "user_agent": row.user_agent,
            "ip": row.ip,
            "signed_in_at": iso(aware(row.created_at)),
            "last_seen_at": iso(aware(row.last_seen_at)),
            "current": row.id == current_session_id,
        }
        for row in rows
    ]
