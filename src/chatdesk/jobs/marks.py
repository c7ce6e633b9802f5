"""Units the senders run once a job is sent (the writer imports this module by name
when it first runs one: it stays small)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update

from chatdesk.db.batch import Unit
from chatdesk.db.tables import conversations

__all__ = ["mark_emailed"]


def mark_emailed(unit: Unit, conversation_id: str, through: datetime) -> None:
    """Replies up to ``through`` went to the visitor by email: later digests skip them."""
    unit.conn.execute(
        update(conversations)
        .where(
            conversations.c.id == conversation_id,
            or_(
                conversations.c.emailed_through.is_(None), conversations.c.emailed_through < through
            ),
        )
        .values(emailed_through=through)
    )
