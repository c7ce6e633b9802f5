"""Appending to the event log (call inside the unit that makes the change)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from chatdesk.db.batch import Unit
from chatdesk.db.direct import Direct
from chatdesk.db.tables import conversations, events
from chatdesk.queries.conversations import labels_for
from chatdesk.shapes import conversation_shape

__all__ = ["append_conversation_updated", "append_event", "append_message_created"]

# Every change appends here: Direct statements (see chatdesk.db.direct). SQLite hands
# the new id back as lastrowid; RETURNING would cost it one more step.
_EVENT_COLUMNS = (
    "type",
    "site_id",
    "conversation_id",
    "visitor_id",
    "private",
    "created_at",
    "data",
)
_INSERT_EVENT = Direct(insert(events), _EVENT_COLUMNS)
_INSERT_EVENT_RETURNING = Direct(insert(events).returning(events.c.id), _EVENT_COLUMNS)


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
    values = {
        "type": type_,
        "site_id": site_id,
        "conversation_id": conversation_id,
        "visitor_id": visitor_id,
        "private": private,
        "created_at": unit.now,
        "data": data,
    }
    if unit.dialect.name == "sqlite":
        event_id = int(unit.run(_INSERT_EVENT, values).lastrowid)
    else:
        event_id = int(unit.run(_INSERT_EVENT_RETURNING, values).fetchone()[0])
    unit.event_ids.append(event_id)
    return event_id


def append_message_created(unit: Unit, conversation: Any, message: Any, *, private: bool) -> int:
    """Append ``message.created`` for ``message`` (its shape) in ``conversation`` (which
    has ``id``, ``site_id`` and ``visitor_id``)."""
    return append_event(
        unit,
        "message.created",
        site_id=conversation.site_id,
        conversation_id=conversation.id,
        visitor_id=conversation.visitor_id,
        private=private,
        data={"message": message},
    )


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
