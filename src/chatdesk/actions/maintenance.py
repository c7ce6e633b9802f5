"""Housekeeping writes: purging old events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select

from chatdesk.db.batch import Unit
from chatdesk.db.tables import events, meta
from chatdesk.queries.events import PURGED_THROUGH

__all__ = ["purge_events"]


def purge_events(unit: Unit, older_than: datetime) -> int:
    """Delete events created before ``older_than``; remember the highest id removed."""
    newest_old = unit.conn.execute(
        select(func.max(events.c.id)).where(events.c.created_at < older_than)
    ).scalar()
    if newest_old is None:
        return 0
    result = unit.conn.execute(delete(events).where(events.c.id <= newest_old))
    updated = unit.conn.execute(
        meta.update().where(meta.c.key == PURGED_THROUGH).values(value=str(newest_old))
    )
    if updated.rowcount == 0:
        unit.conn.execute(meta.insert().values(key=PURGED_THROUGH, value=str(newest_old)))
    return int(result.rowcount)
