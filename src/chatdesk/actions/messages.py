"""Sending messages: visitor messages, operator replies and private notes."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Row, bindparam, case, func, insert, select, update

from chatdesk.access import may_see_conversation
from chatdesk.actions.attachments import attach_to_message, unsent_of
from chatdesk.actions.blocks import refuse_if_blocked
from chatdesk.actions.email import mentioned_operators, queue_after_reply
from chatdesk.actions.events import (
    append_conversation_updated,
    append_message_created,
)
from chatdesk.actions.routing import assign
from chatdesk.actions.timeline import SYSTEM, record_entry
from chatdesk.clock import iso
from chatdesk.db.batch import Unit
from chatdesk.db.direct import Direct
from chatdesk.db.intervals import seconds_between
from chatdesk.db.tables import TS, conversations, messages, sites, visitors
from chatdesk.errors import Conflict, NotFound
from chatdesk.ids import new_id
from chatdesk.queries.attachments import by_message
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.security.signing import SignedLinks
from chatdesk.shape_types import Attachment, AuthorType, Message
from chatdesk.shapes import attachment_shape, message_shape

__all__ = ["find_by_client_msg_id", "insert_message", "send_message"]

PREVIEW_CHARS = 140

# Built once. The message path runs through Direct statements (compiled once per
# dialect, run on the driver's cursor): it is the path every message takes.
_CLIENT_MSG_ID_MATCH = (
    (messages.c.author_type == bindparam("b_author_type"))
    & (messages.c.author_id == bindparam("b_author_id"))
    & (messages.c.client_msg_id == bindparam("b_client_msg_id"))
)
_USED = Direct(select(messages.c.id).where(_CLIENT_MSG_ID_MATCH))
# The conversation, its visitor's name, and the message already sent with this
# client_msg_id if any: one statement for what every message needs to know.
_TARGET_COLUMNS = (
    conversations.c.id,
    conversations.c.site_id,
    conversations.c.visitor_id,
    conversations.c.status,
    visitors.c.name,
    select(messages.c.id).where(_CLIENT_MSG_ID_MATCH).scalar_subquery(),
    visitors.c.email,
    visitors.c.email_unsubscribed_at,
    visitors.c.blocked_until,
)
_WITH_VISITOR = conversations.join(visitors, visitors.c.id == conversations.c.visitor_id)
_TARGET = Direct(
    select(*_TARGET_COLUMNS)
    .select_from(_WITH_VISITOR)
    .where(conversations.c.id == bindparam("b_id"))
)
# An operator's message also needs the assignee and the site's assign_on_reply (ADR 0016);
# a visitor's, the most frequent, does not pay for the join.
_TARGET_FOR_OPERATOR = Direct(
    select(*_TARGET_COLUMNS, conversations.c.assignee_id, sites.c.assign_on_reply)
    .select_from(_WITH_VISITOR.join(sites, sites.c.id == conversations.c.site_id))
    .where(conversations.c.id == bindparam("b_id"))
)
_VISITOR_NAME = Direct(select(visitors.c.name).where(visitors.c.id == bindparam("b_visitor_id")))
_BY_CLIENT_MSG_ID = select(messages).where(_CLIENT_MSG_ID_MATCH)
# Written messages leave a timeline entry's columns (kind, data) null.
_WRITTEN = tuple(column.name for column in messages.c if column.name not in ("kind", "data"))
_INSERT_MESSAGE = Direct(insert(messages), _WRITTEN)
_TOUCH = update(conversations).where(conversations.c.id == bindparam("b_conversation_id"))
_LAST = ("updated_at", "last_message_at", "last_message_preview", "last_message_author")
_TOUCH_NOTE = Direct(_TOUCH, ("updated_at",))
# A public message counts itself on its conversation (reports, ADR 0026).
_PUBLIC = _TOUCH.values(message_count=conversations.c.message_count + 1)
_TOUCH_REPLY = Direct(_PUBLIC, (*_LAST, "unread_count"))
# An operator's public reply: the same UPDATE also stamps the first response, once
# (ADR 0026). Bots' replies and notes do not count as a response.
_TOUCH_OPERATOR_REPLY = Direct(
    _PUBLIC.values(
        first_response_at=func.coalesce(
            conversations.c.first_response_at, bindparam("b_now", type_=TS)
        ),
        first_response_seconds=case(
            (
                conversations.c.first_response_at.is_(None),
                seconds_between(conversations.c.created_at, bindparam("b_now", type_=TS)),
            ),
            else_=conversations.c.first_response_seconds,
        ),
    ),
    (*_LAST, "unread_count"),
)
_TOUCH_VISITOR = _PUBLIC.values(unread_count=conversations.c.unread_count + 1)
_TOUCH_BY_VISITOR = Direct(_TOUCH_VISITOR, _LAST)
# Reopened by the visitor: the resolution no longer stands (ADR 0026).
_TOUCH_REOPEN = Direct(
    _TOUCH_VISITOR.values(resolved_at=None, resolution_seconds=None), (*_LAST, "status")
)
_TOUCH_WAKE = Direct(_TOUCH_VISITOR, (*_LAST, "status", "snoozed_until"))


class _Target(NamedTuple):
    """The conversation a message goes to, with its visitor's current name."""

    id: str
    site_id: str
    visitor_id: str
    status: str
    visitor_name: str | None
    used_by: str | None  # the message already stored with this client_msg_id
    visitor_email: str | None
    visitor_unsubscribed: Any  # when the visitor unsubscribed from email, or None
    visitor_blocked_until: Any  # the end of the visitor's blocks (ADR 0018), or None
    # Read for an operator's message only (_TARGET_FOR_OPERATOR).
    assignee_id: str | None = None
    assign_on_reply: Any = False  # the site's setting (a driver's boolean or integer)


def author_of(
    unit: Unit, actor: OperatorActor | VisitorActor
) -> tuple[AuthorType, str, str | None]:
    """(type, id, display name) of a message's author."""
    if isinstance(actor, VisitorActor):
        found = unit.first(_VISITOR_NAME, {"b_visitor_id": actor.visitor_id})
        return "visitor", actor.visitor_id, found[0] if found else None
    return "operator", actor.operator_id, actor.name


def find_by_client_msg_id(
    unit: Unit, author_type: str, author_id: str, client_msg_id: str
) -> Row[Any] | None:
    params = {
        "b_author_type": author_type,
        "b_author_id": author_id,
        "b_client_msg_id": client_msg_id,
    }
    if unit.first(_USED, params) is None:  # the usual case, answered on the fast path
        return None
    return unit.conn.execute(_BY_CLIENT_MSG_ID, params).first()


def insert_message(
    unit: Unit,
    conversation: Any,
    author: tuple[AuthorType, str, str | None],
    body: str,
    client_msg_id: str | None,
    *,
    private: bool = False,
    mentions: list[str] | None = None,
    attachments: list[Attachment] | None = None,
) -> Message:
    """Store one message, update its conversation and append the events, in ``unit``.

    ``conversation`` has ``id``, ``site_id``, ``visitor_id`` and ``status``;
    ``mentions``, a private note's @mentioned operators; ``attachments``, the files it
    carries (checked by :func:`~chatdesk.actions.attachments.unsent_of`).
    """
    author_type, author_id, author_name = author
    message_id = new_id()
    values = {
        "id": message_id,
        "conversation_id": conversation.id,
        "author_type": author_type,
        "author_id": author_id,
        "author_name": author_name,
        "body": body,
        "private": private,
        "client_msg_id": client_msg_id,
        "created_at": unit.now,
        "mentions": mentions or None,
    }
    unit.run(_INSERT_MESSAGE, values)
    if attachments:
        attach_to_message(unit, [attachment["id"] for attachment in attachments], message_id)
    changes: dict[str, Any] = {"b_conversation_id": conversation.id, "updated_at": unit.now}
    statement = _TOUCH_NOTE
    reopened = woke = False
    if not private:
        changes.update(
            last_message_at=unit.now,
            last_message_preview=_preview(body, attachments),
            last_message_author=author_type,
        )
        if author_type == "visitor":
            statement = _TOUCH_BY_VISITOR
            if conversation.status == "resolved":
                statement = _TOUCH_REOPEN
                changes["status"] = "open"
                reopened = True
            elif conversation.status == "snoozed":
                # The visitor wrote: the snooze ends now, in this unit (ADR 0017).
                statement = _TOUCH_WAKE
                changes.update(status="open", snoozed_until=None)
                woke = True
        else:
            statement = _TOUCH_REPLY
            changes["unread_count"] = 0
            if author_type == "operator":
                statement = _TOUCH_OPERATOR_REPLY
                changes["b_now"] = unit.now
    unit.run(statement, changes)
    shape: Message = {
        "id": message_id,
        "conversation_id": conversation.id,
        "author": {"type": author_type, "id": author_id, "name": author_name},
        "body": body,
        "private": private,
        "client_msg_id": client_msg_id,
        "created_at": iso(unit.now),
        "mentions": mentions or [],
        "attachments": attachments or [],
    }
    append_message_created(unit, conversation, shape, private=private)
    if reopened:
        append_conversation_updated(unit, conversation.id, ["status"], private=False)
    elif woke:
        record_entry(unit, conversation, "woke", {"reason": "visitor"}, SYSTEM)
        append_conversation_updated(unit, conversation.id, ["status"], private=True)
    return shape


def _preview(body: str, attachments: list[Attachment] | None) -> str:
    if body or not attachments:
        return body[:PREVIEW_CHARS]
    return ("📎 " + ", ".join(attachment["name"] for attachment in attachments))[:PREVIEW_CHARS]


def send_message(
    unit: Unit,
    actor: OperatorActor | VisitorActor,
    conversation_id: str,
    body: str,
    client_msg_id: str,
    *,
    private: bool = False,
    email_away: int | None = None,
    attachment_ids: list[str] | None = None,
    links: SignedLinks | None = None,
) -> tuple[Message, bool]:
    """Send into an existing conversation; returns (message, created).

    A repeated ``client_msg_id`` from the same author returns the stored message
    (created False) instead of storing a second one. A bot token's message has
    author type ``bot`` (its id the token's, its name the token's name). With
    ``email_away`` (email is on), an operator's or bot's message queues the emails
    it causes (:func:`chatdesk.actions.email.queue_after_reply`). ``attachment_ids``
    (files the author uploaded to this conversation) go with ``links``, which sign
    their links in the message and its event (ADR 0019).
    """
    author_type: AuthorType
    author_id: str
    if isinstance(actor, VisitorActor):
        author_type, author_id = "visitor", actor.visitor_id
    elif actor.is_bot and actor.api_token_id is not None:
        author_type, author_id = "bot", actor.api_token_id
    else:
        author_type, author_id = "operator", actor.operator_id
    params = {
        "b_id": conversation_id,
        "b_author_type": author_type,
        "b_author_id": author_id,
        "b_client_msg_id": client_msg_id,
    }
    found = unit.first(_TARGET if author_type == "visitor" else _TARGET_FOR_OPERATOR, params)
    if found is None or not may_see_conversation(actor, found[1], found[2]):
        raise NotFound("Conversation not found.")
    conversation = _Target(*found)
    if conversation.used_by is not None:
        existing = unit.conn.execute(_BY_CLIENT_MSG_ID, params).one()
        if existing.conversation_id != conversation.id:
            raise Conflict("This client_msg_id was already used for another conversation.")
        sent: list[Attachment] = []
        if links is not None:
            rows = by_message(unit.conn, [existing.id]).get(existing.id, [])
            sent = [attachment_shape(row, links.url) for row in rows]
        return message_shape(existing, sent), False
    if conversation.visitor_blocked_until is not None and isinstance(actor, VisitorActor):
        # A retry of what was stored before the block still gets its answer (above).
        refuse_if_blocked(conversation.visitor_blocked_until, unit.now)
    files = None
    if attachment_ids:
        if links is None:
            raise TypeError("attachment_ids need links to sign")
        files = unsent_of(unit, conversation.id, (author_type, author_id), attachment_ids, links)
    # A visitor writes only into its own conversation (checked above): its name is there.
    name = conversation.visitor_name if isinstance(actor, VisitorActor) else actor.name
    author = (author_type, author_id, name)
    mentions = None
    if private and author_type == "operator" and "@" in body:
        mentions = mentioned_operators(
            unit.conn, conversation.site_id, body, author_id, wanting_email=False
        )
    if (
        author_type == "operator"
        and not private
        and conversation.assignee_id is None
        and conversation.assign_on_reply
    ):
        # Before the reply, so the log reads "assigned", then the reply itself.
        _assign_to_replier(unit, actor, conversation.id)
    message = insert_message(
        unit,
        conversation,
        author,
        body,
        client_msg_id,
        private=private,
        mentions=mentions,
        attachments=files,
    )
    if email_away is not None and isinstance(actor, OperatorActor):
        queue_after_reply(unit, actor, conversation, message, email_away)
    return message, True


def _assign_to_replier(unit: Unit, actor: Any, conversation_id: str) -> None:
    """The first operator to answer an unassigned conversation takes it (the site's
    ``assign_on_reply``): through the same path as any assignment (ADR 0016)."""
    row = unit.conn.execute(
        select(conversations).where(conversations.c.id == conversation_id)
    ).one()
    assign(unit, row, actor.operator_id, by=actor.operator_id, how="reply")
