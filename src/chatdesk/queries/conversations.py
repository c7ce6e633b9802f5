"""Conversation lists and single conversations in their API shape."""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast, overload

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, exists, func, or_, select

from chatdesk.clock import aware, iso
from chatdesk.db.tables import conversation_labels, conversations, labels, messages, visitors
from chatdesk.errors import ValidationFailed
from chatdesk.queries.search import search_hits, search_matcher, search_snippets, search_words
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.shape_types import (
    Conversation,
    ListedVisitorConversation,
    SearchMatch,
    VisitorConversation,
)
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


def _conditions(actor: OperatorActor, flt: ConversationFilter) -> list[ColumnElement[bool]]:
    """What the operator may see and asked for, as conditions on ``conversations``."""
    c = conversations
    where: list[ColumnElement[bool]] = []
    if actor.site_ids is not None:
        where.append(c.c.site_id.in_(sorted(actor.site_ids)))
    if flt.status:  # one status, or several separated by commas ("open,pending")
        where.append(c.c.status.in_(sorted(set(flt.status.split(",")))))
    if flt.site_id:
        where.append(c.c.site_id == flt.site_id)
    if flt.visitor_id:
        where.append(c.c.visitor_id == flt.visitor_id)
    if flt.assignee == "me":
        where.append(c.c.assignee_id == actor.operator_id)
    elif flt.assignee == "unassigned":
        where.append(c.c.assignee_id.is_(None))
    elif flt.assignee:
        where.append(c.c.assignee_id == flt.assignee)
    if flt.label:
        where.append(
            exists().where(
                conversation_labels.c.conversation_id == c.c.id,
                conversation_labels.c.label_id == labels.c.id,
                labels.c.name == flt.label.strip().lower(),
            )
        )
    return where


def _page(
    conn: Connection, rows: Sequence[Row[Any]], matches: dict[str, SearchMatch] | None = None
) -> list[Conversation]:
    names = labels_for(conn, [row.id for row in rows])
    shapes = []
    for row in rows:
        shape = conversation_shape(row, names.get(row.id, []), visitor_shape(row, prefix="v_"))
        if matches and row.id in matches:
            shape["match"] = matches[row.id]
        shapes.append(shape)
    return shapes


def _listed() -> Select[Any]:
    visitor_columns = [col.label(f"v_{col.name}") for col in visitors.c]
    c = conversations
    return select(c, *visitor_columns).join(visitors, visitors.c.id == c.c.visitor_id)


def list_conversations(
    conn: Connection, actor: OperatorActor, flt: ConversationFilter
) -> tuple[list[Conversation], str | None]:
    """Conversations the operator may see, newest activity first, one page at a time;
    with ``q``, those matching it, best match first (across every status unless
    ``status`` is given)."""
    if flt.q is not None and flt.q.strip():
        return _search(conn, actor, flt)
    c = conversations
    query = _listed().where(*_conditions(actor, flt))
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
    next_cursor = _encode_cursor(page[-1]) if len(rows) > flt.limit else None
    return _page(conn, page), next_cursor


def _search(
    conn: Connection, actor: OperatorActor, flt: ConversationFilter
) -> tuple[list[Conversation], str | None]:
    """One page of a search: ranked ids from the full-text index (the operator's sites
    and filters inside that query), then those conversations and their snippets."""
    words = search_words(flt.q or "")
    offset = _decode_offset(flt.cursor) if flt.cursor else 0
    matcher = search_matcher(conn, words)
    hits = search_hits(
        conn,
        matcher,
        _conditions(actor, flt),
        include_private=True,  # operators read private notes in every conversation they see
        limit=flt.limit + 1,
        offset=offset,
    )
    page = hits[: flt.limit]
    found = {
        row.id: row
        for row in conn.execute(
            _listed().where(conversations.c.id.in_([hit.conversation_id for hit in page]))
        )
    }
    snippets = search_snippets(conn, matcher, [hit.message_id for hit in page if hit.message_id])
    matches: dict[str, SearchMatch] = {
        hit.conversation_id: {"message_id": hit.message_id, "snippet": snippets[hit.message_id]}
        for hit in page
        if hit.message_id and hit.message_id in snippets
    }
    rows = [found[hit.conversation_id] for hit in page if hit.conversation_id in found]
    next_cursor = _encode_offset(offset + flt.limit) if len(hits) > flt.limit else None
    return _page(conn, rows, matches), next_cursor


def _encode_offset(offset: int) -> str:
    raw = json.dumps(["search", offset]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_offset(cursor: str) -> int:
    """A search's cursor: how many results the pages before held."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, offset = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if kind == "search" and isinstance(offset, int) and 0 <= offset <= 10_000:
            return offset
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        pass
    raise ValidationFailed("The cursor is not valid.", {"field": "cursor"})
