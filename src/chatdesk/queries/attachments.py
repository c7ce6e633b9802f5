"""Reading attachment rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from chatdesk.db.tables import attachments, conversations

__all__ = [
    "attachment_by_id",
    "by_message",
    "existing_ids",
    "sent_in_conversations_of",
    "unsent_before",
]


def attachment_by_id(conn: Connection, attachment_id: str) -> Any:
    return conn.execute(select(attachments).where(attachments.c.id == attachment_id)).first()


def by_message(conn: Connection, message_ids: list[str]) -> dict[str, list[Any]]:
    """The attachments of each of ``message_ids`` that has any, in upload order."""
    found: dict[str, list[Any]] = {}
    for start in range(0, len(message_ids), 500):
        chunk = message_ids[start : start + 500]
        rows = conn.execute(
            select(attachments)
            .where(attachments.c.message_id.in_(chunk))
            .order_by(attachments.c.id)
        )
        for row in rows:
            found.setdefault(row.message_id, []).append(row)
    return found


def sent_in_conversations_of(conn: Connection, visitor_id: str, limit: int) -> list[Any]:
    """The newest ``limit`` files sent in ``visitor_id``'s conversations, newest first."""
    return list(
        conn.execute(
            select(attachments)
            .join(conversations, conversations.c.id == attachments.c.conversation_id)
            .where(conversations.c.visitor_id == visitor_id, attachments.c.message_id.is_not(None))
            .order_by(attachments.c.id.desc())
            .limit(limit)
        )
    )


def unsent_before(conn: Connection, before: datetime, limit: int = 1000) -> list[Any]:
    """Attachments uploaded before ``before`` that no message carries."""
    return list(
        conn.execute(
            select(attachments)
            .where(attachments.c.message_id.is_(None), attachments.c.created_at < before)
            .order_by(attachments.c.created_at)
            .limit(limit)
        )
    )


def existing_ids(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            conn.execute(select(attachments.c.id).where(attachments.c.id.in_(chunk))).scalars()
        )
    return found
