"""Read receipts both ways: the newest message the visitor, and the team, have seen.

Each side has one mark on the conversation (``visitor_read_message_id``,
``operator_read_message_id``); it only moves forward (message ids are time-ordered),
and each move appends ``conversation.read`` ``{by, message_id}``, which both sides of
the conversation see. The team's mark is shared, like its unread count: moving it
sets ``unread_count`` to the visitor's messages after it (ADR 0017).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update

from chatdesk.access import access_conversation
from chatdesk.actions.events import append_conversation_updated, append_event
from chatdesk.db.batch import Unit
from chatdesk.db.tables import conversations, messages
from chatdesk.errors import ValidationFailed
from chatdesk.security.principals import OperatorActor, VisitorActor

__all__ = ["mark_seen"]


def mark_seen(
    unit: Unit, actor: OperatorActor | VisitorActor, conversation_id: str, message_id: str
) -> bool:
    """Move the reader's side's mark up to ``message_id``; whether it moved.

    An older or the same message leaves the mark (and the event log) as it is. A visitor
    reads only its own conversations' public messages: a private note's id is refused
    like a message of another conversation.
    """
    row = access_conversation(unit.conn, actor, conversation_id)
    visitor = isinstance(actor, VisitorActor)
    query = select(messages.c.id).where(
        messages.c.id == message_id, messages.c.conversation_id == row.id
    )
    if visitor:
        query = query.where(messages.c.private.is_(False))
    if unit.conn.execute(query).first() is None:
        raise ValidationFailed(
            "message_id is not a message of this conversation.", {"field": "message_id"}
        )
    column = (
        conversations.c.visitor_read_message_id
        if visitor
        else conversations.c.operator_read_message_id
    )
    values: dict[str, Any] = {column.name: message_id}
    if not visitor:
        values["unread_count"] = _unread_after(row.id, message_id)
    moved = unit.conn.execute(
        update(conversations)
        .where(conversations.c.id == row.id, or_(column.is_(None), column < message_id))
        .values(values)
    )
    if moved.rowcount != 1:
        return False
    by = "visitor" if visitor else "operator"
    append_event(
        unit,
        "conversation.read",
        site_id=row.site_id,
        conversation_id=row.id,
        visitor_id=row.visitor_id,
        private=False,
        data={"by": by, "message_id": message_id},
    )
    if not visitor:
        now = unit.conn.execute(
            select(conversations.c.unread_count).where(conversations.c.id == row.id)
        ).scalar_one()
        if now != row.unread_count:
            append_conversation_updated(unit, row.id, ["unread_count"], private=True)
    return True


def _unread_after(conversation_id: str, message_id: str) -> Any:
    """The visitor's messages newer than ``message_id``: what is still unread."""
    return (
        select(func.count())
        .select_from(messages)
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.author_type == "visitor",
            messages.c.id > message_id,
        )
        .scalar_subquery()
    )
