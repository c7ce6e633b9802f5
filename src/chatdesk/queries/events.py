"""Reading the event log from a cursor, filtered to what the reader may see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, bindparam, func, select

from chatdesk.clock import iso
from chatdesk.db.tables import events, meta
from chatdesk.errors import CursorExpired
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.shape_types import Event, EventData
from chatdesk.shapes import for_visitor

if TYPE_CHECKING:  # the writer process imports this module for units: not the runner
    from chatdesk.db.runner import Database

__all__ = ["PURGED_THROUGH", "EventLogReader", "event_shape", "head", "read_events", "routes_after"]

# meta key: the highest event id ever purged; cursors below it have lost events.
PURGED_THROUGH = "events_purged_through"


def head(conn: Connection) -> int:
    return _bounds(conn)[0]


def _bounds(conn: Connection) -> tuple[int, int]:
    """(head, purged through) in one statement. A purge may delete the newest events
    too, so the head never goes back below the purge point (ids are never reused)."""
    purged = select(meta.c.value).where(meta.c.key == PURGED_THROUGH).scalar_subquery()
    newest, value = conn.execute(select(func.coalesce(func.max(events.c.id), 0), purged)).one()
    purged_through = int(value) if value else 0
    return max(int(newest), purged_through), purged_through


def event_shape(row: Row[Any], actor: OperatorActor | VisitorActor) -> Event:
    data: EventData = row.data.copy()  # as the action that appended it wrote it
    if isinstance(actor, VisitorActor) and "conversation" in data:
        data["conversation"] = for_visitor(data["conversation"])
    return {
        "id": row.id,
        "type": row.type,
        "conversation_id": row.conversation_id,
        "created_at": iso(row.created_at),
        "data": data,
    }


def read_events(
    conn: Connection, actor: OperatorActor | VisitorActor, after: int | None, limit: int = 100
) -> tuple[list[Event], int]:
    """Events after ``after`` visible to ``actor`` (at most ``limit``) and the new cursor.

    ``after=None`` starts from the current head. A cursor below what was purged,
    or above the head (from another database), is expired.
    """
    newest, purged_through = _bounds(conn)
    if after is None:
        return [], newest
    if after > newest or after < purged_through:
        raise CursorExpired()
    query = select(events).where(events.c.id > after)
    if isinstance(actor, VisitorActor):
        query = query.where(events.c.visitor_id == actor.visitor_id, events.c.private.is_(False))
    elif actor.site_ids is not None:
        query = query.where(events.c.site_id.in_(sorted(actor.site_ids)))
    rows = conn.execute(query.order_by(events.c.id).limit(limit)).all()
    if not rows:
        # Nothing for this reader up to the head: move its cursor there so the next
        # read skips what it may not see.
        return [], newest
    if len(rows) < limit:
        return [event_shape(row, actor) for row in rows], max(rows[-1].id, newest)
    return [event_shape(row, actor) for row in rows], rows[-1].id


_ROUTES_AFTER = (
    select(events.c.id, events.c.site_id, events.c.visitor_id, events.c.private)
    .where(events.c.id > bindparam("b_after"))
    .order_by(events.c.id)
    .limit(1000)
)


def routes_after(conn: Connection, after: int) -> list[tuple[int, str, str | None, bool]]:
    """(id, site id, visitor id, private) of up to 1000 events after ``after``: what the
    real-time hub needs to know whom to wake, and no more."""
    rows = conn.execute(_ROUTES_AFTER, {"b_after": after}).all()
    return [(int(r[0]), r[1], r[2], bool(r[3])) for r in rows]


class EventLogReader:
    """The event log as the real-time hub reads it (``realtime.hub.EventLog``), one
    read hop per call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def head(self) -> int:
        return await self.db.read(head)

    async def routes_after(self, after: int) -> list[tuple[int, str, str | None, bool]]:
        return await self.db.read(lambda conn: routes_after(conn, after))
