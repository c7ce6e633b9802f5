"""Appending to the event log (call inside the unit that makes the change)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from chatdesk.db.runner import Unit
from chatdesk.db.tables import events

__all__ = ["append_event"]


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
    result = unit.conn.execute(
        insert(events).values(
            type=type_,
            site_id=site_id,
            conversation_id=conversation_id,
            visitor_id=visitor_id,
            private=private,
            created_at=unit.now,
            data=data,
        )
    )
    event_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    unit.event_ids.append(event_id)
    return event_id
