"""Reading the event log from a cursor, filtered to what the reader may see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Row, bindparam, func, select

from chatdesk.clock import iso
from chatdesk.db.tables import events, meta
from chatdesk.errors import CursorExpired
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.security.visibility import Visibility, visibility
from chatdesk.shape_types import Event, EventData
from chatdesk.shapes import for_visitor

if TYPE_CHECKING:  # the writer process imports this module for units: not the runner
    from chatdesk.db.runner import Database

__all__ = [
    "PURGED_THROUGH",
    "EventLogReader",
    "event_shape",
    "events_after",
    "head",
    "read_events",
    "visible_to",
]

# (id, site id, visitor id, private, operator view, visitor view or None): one stored
# event as the real-time hub holds it, shaped once per audience.
NewEvent = tuple[int, str, str | None, bool, Event, Event | None]

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


def event_shape(row: Row[Any], actor: OperatorActor | VisitorActor | Visibility) -> Event:
    """The event as ``actor`` (or an audience: a visitor's or an operator's) sees it."""
    data: EventData = row.data.copy()  # as the action that appended it wrote it
    if isinstance(actor, Visibility):
        to_visitor = actor.is_visitor
    else:
        to_visitor = isinstance(actor, VisitorActor)
    if to_visitor and "conversation" in data:
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
    query = select(events).where(events.c.id > after, *visible_to(visibility(actor)))
    rows = conn.execute(query.order_by(events.c.id).limit(limit)).all()
    if not rows:
        # Nothing for this reader up to the head: move its cursor there so the next
        # read skips what it may not see.
        return [], newest
    if len(rows) < limit:
        return [event_shape(row, actor) for row in rows], max(rows[-1].id, newest)
    return [event_shape(row, actor) for row in rows], rows[-1].id


def visible_to(seen: Visibility) -> list[ColumnElement[bool]]:
    """``seen`` as the conditions of a query on ``events``: the database's side of
    :meth:`Visibility.admits` (the hub's side, for events in memory)."""
    if seen.visitor_id is not None:
        return [events.c.visitor_id == seen.visitor_id, events.c.private.is_(False)]
    if seen.site_ids is not None:
        return [events.c.site_id.in_(sorted(seen.site_ids))]
    return []


_OPERATORS = Visibility()
_VISITORS = Visibility(visitor_id="")
_EVENTS_AFTER = select(events).where(events.c.id > bindparam("b_after")).order_by(events.c.id)


def events_after(conn: Connection, after: int, limit: int = 1000) -> list[NewEvent]:
    """Whole rows of up to ``limit`` events after ``after``, oldest first, each shaped
    once for operators and once for its visitor (None: never shown to a visitor). What
    the real-time hub reads, once per process, to hand new events to every listener."""
    rows = conn.execute(_EVENTS_AFTER.limit(limit), {"b_after": after}).all()
    return [
        (
            int(row.id),
            row.site_id,
            row.visitor_id,
            bool(row.private),
            event_shape(row, _OPERATORS),
            None if row.private or not row.visitor_id else event_shape(row, _VISITORS),
        )
        for row in rows
    ]


class EventLogReader:
    """The event log as the real-time hub reads it (``realtime.hub.EventLog``), one
    read hop per call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def head(self) -> int:
        return await self.db.read_here(head)

    async def events_after(self, after: int) -> list[NewEvent]:
        return await self.db.read_here(lambda conn: events_after(conn, after))
