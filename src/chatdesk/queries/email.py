"""What an email job would send now: read when the job is sent, never when it was queued.

:func:`plan_email` turns an email job's payload (see ``actions/email.py``) into an
:class:`EmailPlan` (who gets what, from which rows) or a reason to send nothing.
Private notes are never read into a plan: an email carries public messages only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, or_, select

from chatdesk.clock import aware
from chatdesk.db.tables import conversations, messages, operators, site_operators, sites, visitors

__all__ = [
    "OPERATOR_TEMPLATES",
    "VISITOR_TEMPLATES",
    "EmailPlan",
    "MailMessage",
    "email_subject",
    "header_text",
    "plan_email",
]

STAFF = ("operator", "bot")
TRANSCRIPT_LIMIT = 1000  # messages in one transcript email, the newest kept
# Who each template is written to: the conversation's visitor, or one operator
# (the job's ``operator_id``).
VISITOR_TEMPLATES = ("replies", "transcript", "offline_ack")
OPERATOR_TEMPLATES = ("unanswered", "mention")
_SUBJECTS = {
    "replies": "Your conversation with {site}",
    "transcript": "Your conversation with {site}",
    "offline_ack": "Your conversation with {site}",
    "unanswered": "[{site}] Waiting for an answer: {visitor}",
    "mention": "[{site}] You were mentioned: {visitor}",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_text(value: str, limit: int = 200) -> str:
    """Text fit for a header: no line breaks or control characters, bounded."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def email_subject(template: str, site_name: str, visitor_label: str) -> str:
    """The subject of an email of ``template`` (one of ``plan_email``'s); ``visitor_label``
    is the visitor's name, else their email, else "a visitor". It names no message:
    the console may show it wherever it shows the email."""
    site = header_text(site_name, 100)
    visitor = header_text(visitor_label, 100)
    return _SUBJECTS[template].format(site=site, visitor=visitor)


@dataclass(frozen=True)
class MailMessage:
    """One message as an email shows it."""

    author: str
    body: str
    created_at: datetime
    mine: bool  # written by the email's reader (the visitor's own messages in theirs)


@dataclass(frozen=True)
class EmailPlan:
    """One email to send: its template, its reader, and what it shows."""

    template: str
    audience: str  # "visitor" or "operator"
    to_address: str
    to_name: str | None
    conversation_id: str
    visitor_id: str
    site_name: str
    accent_color: str
    visitor_name: str | None
    visitor_email: str | None
    visitor_timezone: str | None
    page_url: str | None
    operator_id: str | None = None
    messages: list[MailMessage] = field(default_factory=list)
    offline_message: str | None = None
    minutes: int | None = None
    author: str | None = None  # who @mentioned the operator
    note: bool = False  # the mention is in a private note (its text is not emailed)
    # A digest's newest reply: once sent, later digests start after it.
    emailed_through: datetime | None = None


Plan = tuple[EmailPlan | None, str]


def plan_email(conn: Connection, payload: dict[str, Any], now: datetime, away: timedelta) -> Plan:
    """(plan, "") for an email to send now, or (None, why nothing is sent)."""
    template = payload.get("template")
    conversation_id = payload.get("conversation_id")
    planner = _PLANNERS.get(str(template))
    if planner is None or not isinstance(conversation_id, str):
        return None, f"unknown email job {template!r}"
    row: Any = conn.execute(
        select(
            conversations.c.id,
            conversations.c.status,
            conversations.c.created_at,
            conversations.c.emailed_through,
            sites.c.id.label("site_id"),
            sites.c.name.label("site_name"),
            sites.c.accent_color,
            sites.c.offline_message,
            visitors.c.id.label("visitor_id"),
            visitors.c.name.label("visitor_name"),
            visitors.c.email.label("visitor_email"),
            visitors.c.timezone,
            visitors.c.page_url,
            visitors.c.last_seen_at,
            visitors.c.email_unsubscribed_at,
        )
        .join(sites, sites.c.id == conversations.c.site_id)
        .join(visitors, visitors.c.id == conversations.c.visitor_id)
        .where(conversations.c.id == conversation_id)
    ).first()
    if row is None:
        return None, "the conversation is gone"
    return planner(conn, row, payload, now, away)


def _base(row: Row[Any], template: str, **fields: Any) -> EmailPlan:
    values: dict[str, Any] = {
        "template": template,
        "audience": "visitor",
        "to_address": row.visitor_email,
        "to_name": row.visitor_name,
        "conversation_id": row.id,
        "visitor_id": row.visitor_id,
        "site_name": row.site_name,
        "accent_color": row.accent_color,
        "visitor_name": row.visitor_name,
        "visitor_email": row.visitor_email,
        "visitor_timezone": row.timezone,
        "page_url": row.page_url,
    }
    values.update(fields)
    return EmailPlan(**values)


def _public(
    conn: Connection, conversation_id: str, *where: Any, limit: int = 200
) -> list[Row[Any]]:
    query = (
        select(messages)
        .where(messages.c.conversation_id == conversation_id, messages.c.private.is_(False), *where)
        .order_by(messages.c.id.desc())
        .limit(limit)
    )
    return list(reversed(conn.execute(query).all()))


def _shown(rows: list[Row[Any]], reader: str) -> list[MailMessage]:
    out = []
    for m in rows:
        mine = m.author_type == reader
        default = "You" if mine else ("Visitor" if m.author_type == "visitor" else "Support")
        author = "You" if mine and reader == "visitor" else (m.author_name or default)
        out.append(MailMessage(author, m.body, aware(m.created_at), mine))
    return out


def _visitor_may_get(row: Row[Any]) -> str:
    if not row.visitor_email:
        return "the visitor has no email address"
    if row.email_unsubscribed_at is not None:
        return "the visitor unsubscribed"
    return ""


def _replies(
    conn: Connection, row: Row[Any], _p: dict[str, Any], now: datetime, away: timedelta
) -> Plan:
    refused = _visitor_may_get(row)
    if refused:
        return None, refused
    seen = aware(row.last_seen_at)
    if now - seen < away:
        return None, "the visitor is here, or left less than the away time ago"
    since = seen if row.emailed_through is None else max(seen, aware(row.emailed_through))
    rows = _public(conn, row.id, messages.c.author_type.in_(STAFF), messages.c.created_at > since)
    if not rows:
        return None, "no reply the visitor has not seen or been sent"
    through = max(aware(m.created_at) for m in rows)
    return _base(row, "replies", messages=_shown(rows, "visitor"), emailed_through=through), ""


def _transcript(
    conn: Connection, row: Row[Any], _p: dict[str, Any], _n: datetime, _a: timedelta
) -> Plan:
    # Asked for by the visitor: sent even when they unsubscribed from other email.
    if not row.visitor_email:
        return None, "the visitor has no email address"
    rows = _public(conn, row.id, limit=TRANSCRIPT_LIMIT)
    return _base(row, "transcript", messages=_shown(rows, "visitor")), ""


def _offline_ack(
    conn: Connection, row: Row[Any], _p: dict[str, Any], _n: datetime, _a: timedelta
) -> Plan:
    refused = _visitor_may_get(row)
    if refused:
        return None, refused
    rows = _public(conn, row.id, messages.c.author_type == "visitor", limit=5)
    plan = _base(
        row, "offline_ack", messages=_shown(rows, "visitor"), offline_message=row.offline_message
    )
    return plan, ""


def _operator(conn: Connection, operator_id: Any, site_id: str, wants: Any) -> Row[Any] | None:
    """The operator, if active, still on the site and still wanting this email."""
    if not isinstance(operator_id, str):
        return None
    member = select(site_operators.c.operator_id).where(site_operators.c.site_id == site_id)
    return conn.execute(
        select(operators).where(
            operators.c.id == operator_id,
            operators.c.active.is_(True),
            wants,
            or_(operators.c.role.in_(("admin", "owner")), operators.c.id.in_(member)),
        )
    ).first()


def _for_operator(row: Row[Any], template: str, operator: Row[Any], **fields: Any) -> EmailPlan:
    return _base(
        row,
        template,
        audience="operator",
        to_address=operator.email,
        to_name=operator.name,
        operator_id=operator.id,
        **fields,
    )


def _unanswered(
    conn: Connection, row: Row[Any], payload: dict[str, Any], now: datetime, _a: timedelta
) -> Plan:
    operator = _operator(
        conn,
        payload.get("operator_id"),
        row.site_id,
        operators.c.notify_unanswered_minutes.is_not(None),
    )
    if operator is None:
        return None, "the operator is gone, off the site or no longer wants this email"
    if row.status == "resolved":
        return None, "the conversation is resolved"
    answered = conn.execute(
        select(messages.c.id)
        .where(
            messages.c.conversation_id == row.id,
            messages.c.private.is_(False),
            messages.c.author_type.in_(STAFF),
        )
        .limit(1)
    ).first()
    if answered is not None:
        return None, "the conversation was answered"
    rows = _public(conn, row.id, messages.c.author_type == "visitor", limit=10)
    minutes = max(1, int((now - aware(row.created_at)).total_seconds() // 60))
    plan = _for_operator(
        row, "unanswered", operator, messages=_shown(rows, "operator"), minutes=minutes
    )
    return plan, ""


def _mention(
    conn: Connection, row: Row[Any], payload: dict[str, Any], _n: datetime, _a: timedelta
) -> Plan:
    operator = _operator(
        conn, payload.get("operator_id"), row.site_id, operators.c.notify_mentions.is_(True)
    )
    if operator is None:
        return None, "the operator is gone, off the site or no longer wants this email"
    message = conn.execute(
        select(messages).where(
            messages.c.id == str(payload.get("message_id")),
            messages.c.conversation_id == row.id,
        )
    ).first()
    if message is None:
        return None, "the message is gone"
    # A private note's text never leaves chatdesk by email: the operator opens the console.
    shown = [] if message.private else _shown([message], "operator")
    plan = _for_operator(
        row,
        "mention",
        operator,
        messages=shown,
        author=message.author_name or "A teammate",
        note=bool(message.private),
    )
    return plan, ""


_PLANNERS = {
    "replies": _replies,
    "transcript": _transcript,
    "offline_ack": _offline_ack,
    "unanswered": _unanswered,
    "mention": _mention,
}
