"""Message history, oldest first, paged backwards with ``before``."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatdesk.db.tables import messages
from chatdesk.queries.attachments import by_message
from chatdesk.security.signing import SignedLinks
from chatdesk.shape_types import Message
from chatdesk.shapes import attachment_shape, message_shape

__all__ = ["history"]


def history(
    conn: Connection,
    conversation_id: str,
    *,
    before: str | None,
    limit: int,
    include_private: bool,
    links: SignedLinks,
) -> list[Message]:
    """Up to ``limit`` messages older than ``before`` (a message id), oldest first, their
    attachments' links signed by ``links``."""
    query = select(messages).where(messages.c.conversation_id == conversation_id)
    if not include_private:
        query = query.where(messages.c.private.is_(False))
    if before:
        query = query.where(messages.c.id < before)
    rows = list(reversed(conn.execute(query.order_by(messages.c.id.desc()).limit(limit)).all()))
    files = by_message(conn, [row.id for row in rows])
    return [
        message_shape(row, [attachment_shape(file, links.url) for file in files.get(row.id, ())])
        for row in rows
    ]
