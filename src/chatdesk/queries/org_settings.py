"""Organisation-wide settings (ADR 0030): the sign-in rules owners set for everyone."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatdesk.db.tables import org_settings
from chatdesk.shape_types import SecurityPolicy

__all__ = ["security_policy"]


def security_policy(conn: Connection) -> SecurityPolicy:
    """The sign-in rules; those never set have their default (off)."""
    rows = conn.execute(select(org_settings.c.key, org_settings.c.value)).all()
    values = {row.key: row.value for row in rows}
    return {"require_totp": values.get("require_totp") is True}
