"""Message history, oldest first, paged backwards with ``before``."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatdesk.db.tables import messages
from chatdesk.shape_types import Message
from chatdesk.shapes import message_shape

__all__ = ["history"]


def history(
    conn: Connection,
    conversation_id: str,
    *,
    before: str | None,
    limit: int,
    include_private: bool,
) -> list[Message]:
    """Up to ``limit`` messages older than ``before`` (a message id), oldest first."""
    query = select(messages).where(messages.c.conversation_id == conversation_id)
    if not include_private:
        query = query.where(messages.c.private.is_(False))
    if before:
        query = query.where(messages.c.id < before)
    rows = conn.execute(query.order_by(messages.c.id.desc()).limit(limit)).all()
    return [message_shape(row) for row in reversed(rows)]
