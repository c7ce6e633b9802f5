"""Appending to the event log (call inside the unit that makes the change)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from chatdesk.db.direct import Direct
from chatdesk.db.runner import Unit
from chatdesk.db.tables import conversations, events
from chatdesk.queries.conversations import labels_for
from chatdesk.shapes import conversation_shape

__all__ = ["append_conversation_updated", "append_event"]

# Every change appends here: a Direct statement (see chatdesk.db.direct).
_INSERT_EVENT = Direct(
    insert(events).returning(events.c.id),
    ("type", "site_id", "conversation_id", "visitor_id", "private", "created_at", "data"),
)


def append_event(
    unit: Unit,
    type_: str,
    *,
    site_id: str,
    conversation_id: str | None,
    visitor_id: str | None,
    private: bool,
    data: dict[str, Any],
) -> int:
    """Add one event row; ``private`` events never reach a visitor. Returns the event id."""
    cursor = unit.run(
        _INSERT_EVENT,
        {
            "type": type_,
            "site_id": site_id,
            "conversation_id": conversation_id,
            "visitor_id": visitor_id,
            "private": private,
            "created_at": unit.now,
            "data": data,
        },
    )
    event_id = int(cursor.fetchone()[0])
    unit.event_ids.append(event_id)
    return event_id


def append_conversation_updated(
    unit: Unit, conversation_id: str, changes: list[str], *, private: bool
) -> Any:
    """Append ``conversation.updated`` with the conversation as it now stands; returns the row.

    ``private`` updates (labels, read markers) never reach the visitor.
    """
    row = unit.conn.execute(
        select(conversations).where(conversations.c.id == conversation_id)
    ).one()
    append_event(
        unit,
        "conversation.updated",
        site_id=row.site_id,
        conversation_id=row.id,
        visitor_id=row.visitor_id,
        private=private,
        data={
            "conversation": conversation_shape(row, labels_for(unit.conn, [row.id])[row.id]),
            "changes": changes,
        },
    )
    return row
