"""Conversation lists and single conversations in their API shape."""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast, overload

from sqlalchemy import Connection, Row, and_, exists, func, or_, select

from chatdesk.clock import aware, iso
from chatdesk.db.tables import conversation_labels, conversations, labels, messages, visitors
from chatdesk.errors import ValidationFailed
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.shape_types import Conversation, ListedVisitorConversation, VisitorConversation
from chatdesk.shapes import conversation_shape, for_visitor, visitor_shape

__all__ = [
    "ConversationFilter",
    "conversation_for",
    "label_names",
    "labels_for",
    "list_conversations",
    "list_visitor_conversations",
]


@dataclass(frozen=True)
class ConversationFilter:
    status: str | None = None
    assignee: str | None = None  # "me", "unassigned", or an operator id
    site_id: str | None = None
    label: str | None = None
    q: str | None = None
    visitor_id: str | None = None
    cursor: str | None = None
    limit: int = 25


def labels_for(conn: Connection, conversation_ids: list[str]) -> dict[str, list[str]]:
    """Label names of each conversation, in one query."""
    found: dict[str, list[str]] = defaultdict(list)
    if not conversation_ids:
        return found
    rows = conn.execute(
        select(conversation_labels.c.conversation_id, labels.c.name)
        .join(labels, labels.c.id == conversation_labels.c.label_id)
        .where(conversation_labels.c.conversation_id.in_(conversation_ids))
        .order_by(labels.c.name)
    )
    for conversation_id, name in rows:
        found[conversation_id].append(name)
    return found


def label_names(conn: Connection, actor: OperatorActor) -> list[str]:
    """Labels for the operator's suggestions: every label for admins and owners; for an
    agent, only those on conversations of its sites (labels are named by the team)."""
    query = select(labels.c.name).order_by(labels.c.name)
    if actor.site_ids is not None:
        on_my_sites = (
            select(conversation_labels.c.label_id)
            .join(conversations, conversations.c.id == conversation_labels.c.conversation_id)
            .where(conversations.c.site_id.in_(sorted(actor.site_ids)))
        )
        query = query.where(labels.c.id.in_(on_my_sites))
    return list(conn.execute(query).scalars())


@overload
def conversation_for(
    conn: Connection, row: Row[Any], actor: VisitorActor
) -> VisitorConversation: ...
@overload
def conversation_for(conn: Connection, row: Row[Any], actor: OperatorActor) -> Conversation: ...
@overload
def conversation_for(
    conn: Connection, row: Row[Any], actor: OperatorActor | VisitorActor
) -> Conversation | VisitorConversation: ...


def conversation_for(
    conn: Connection, row: Row[Any], actor: OperatorActor | VisitorActor
) -> Conversation | VisitorConversation:
    """One conversation (already access-checked) shaped for ``actor``."""
    if isinstance(actor, VisitorActor):
        return for_visitor(conversation_shape(row, []))
    visitor = conn.execute(select(visitors).where(visitors.c.id == row.visitor_id)).one()
    return conversation_shape(row, labels_for(conn, [row.id])[row.id], visitor_shape(visitor))


def list_visitor_conversations(
    conn: Connection, actor: VisitorActor
) -> list[ListedVisitorConversation]:
    """The visitor's conversations, newest first; ``unread_count`` is theirs: the team's
    messages after the newest one they have read (their read receipt)."""
    unread = (
        select(func.count())
        .select_from(messages)
        .where(
            messages.c.conversation_id == conversations.c.id,
            messages.c.author_type != "visitor",
            messages.c.private.is_(False),
            or_(
                conversations.c.visitor_read_message_id.is_(None),
                messages.c.id > conversations.c.visitor_read_message_id,
            ),
        )
        .scalar_subquery()
        .label("visitor_unread")
    )
    rows = conn.execute(
        select(conversations, unread)
        .where(conversations.c.visitor_id == actor.visitor_id)
        .order_by(conversations.c.last_message_at.desc(), conversations.c.id.desc())
        .limit(100)
    ).all()
    return [
        cast(
            ListedVisitorConversation,
            {**for_visitor(conversation_shape(row, [])), "unread_count": int(row.visitor_unread)},
        )
        for row in rows
    ]


def _encode_cursor(row: Row[Any]) -> str:
    raw = json.dumps([iso(row.last_message_at), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        return aware(datetime.fromisoformat(stamp)), str(row_id)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeError) as exc:
        raise ValidationFailed("The cursor is not valid.", {"field": "cursor"}) from exc


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_conversations(
    conn: Connection, actor: OperatorActor, flt: ConversationFilter
) -> tuple[list[Conversation], str | None]:
    """Conversations the operator may see, newest activity first, one page at a time."""
    c = conversations
    visitor_columns = [col.label(f"v_{col.name}") for col in visitors.c]
    query = select(c, *visitor_columns).join(visitors, visitors.c.id == c.c.visitor_id)
    if actor.site_ids is not None:
        query = query.where(c.c.site_id.in_(sorted(actor.site_ids)))
    if flt.status:  # one status, or several separated by commas ("open,pending")
        query = query.where(c.c.status.in_(sorted(set(flt.status.split(",")))))
    if flt.site_id:
        query = query.where(c.c.site_id == flt.site_id)
    if flt.visitor_id:
        query = query.where(c.c.visitor_id == flt.visitor_id)
    if flt.assignee == "me":
        query = query.where(c.c.assignee_id == actor.operator_id)
    elif flt.assignee == "unassigned":
        query = query.where(c.c.assignee_id.is_(None))
    elif flt.assignee:
        query = query.where(c.c.assignee_id == flt.assignee)
    if flt.label:
        query = query.where(
            exists().where(
                conversation_labels.c.conversation_id == c.c.id,
                conversation_labels.c.label_id == labels.c.id,
                labels.c.name == flt.label.strip().lower(),
            )
        )
    if flt.q:
        pattern = _like(flt.q.strip())
        query = query.where(
            or_(
                visitors.c.name.ilike(pattern, escape="\\"),
                visitors.c.email.ilike(pattern, escape="\\"),
                exists().where(
                    messages.c.conversation_id == c.c.id,
                    messages.c.body.ilike(pattern, escape="\\"),
                ),
            )
        )
    if flt.cursor:
        stamp, row_id = _decode_cursor(flt.cursor)
        query = query.where(
            or_(
                c.c.last_message_at < stamp,
                and_(c.c.last_message_at == stamp, c.c.id < row_id),
            )
        )
    query = query.order_by(c.c.last_message_at.desc(), c.c.id.desc()).limit(flt.limit + 1)
    rows = conn.execute(query).all()
    page = rows[: flt.limit]
    names = labels_for(conn, [row.id for row in page])
    shapes = [
        conversation_shape(row, names.get(row.id, []), visitor_shape(row, prefix="v_"))
        for row in page
    ]
    next_cursor = _encode_cursor(page[-1]) if len(rows) > flt.limit else None
    return shapes, next_cursor
