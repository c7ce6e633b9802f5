"""Email: which emails a change causes (queued in the same unit of work), a visitor's
transcript request, unsubscribing, and an admin sending a failed email again.

Every email is a job of the durable outbox, kind ``"email"``, queued with
:func:`queue_email` inside the unit that causes it, so a crash never loses nor
invents one. The job's payload names what to send, never its text: the sender
(``jobs/email.py``) renders it from the database when it sends, so a digest
gathers the replies the visitor has not seen *then*, and an email that no longer
makes sense (the visitor came back, the conversation was answered, the operator
turned the notification off) is not sent at all.

Payloads (JSON): ``{"template": T, "conversation_id": C, ...}`` with T one of

- ``replies``: operator replies a visitor who left has not seen (queued at each
  public reply, due ``CHATDESK_EMAIL_AWAY_SECONDS`` later);
- ``transcript``: the whole public conversation, asked for by the visitor;
- ``offline_ack``: "we got your message", for a conversation started while the
  site is away;
- ``unanswered``: to one operator (``operator_id``), for a conversation nobody
  answered within the minutes that operator chose;
- ``mention``: to one operator (``operator_id``) @mentioned in ``message_id``.

Nothing here is on the message path unless email is on: callers pass
``email_away`` (the away delay in seconds, None when no SMTP server is set).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from chatdesk.access import access_conversation, access_email_job
from chatdesk.actions.audit import record
from chatdesk.actions.blocks import check_not_blocked
from chatdesk.business_hours import is_open
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operators, outbox, site_operators, sites, visitors
from chatdesk.errors import Conflict, ValidationFailed
from chatdesk.jobs.outbox import enqueue
from chatdesk.queries.email_jobs import email_job
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.shape_types import EmailJob, Message

__all__ = [
    "EMAIL_KIND",
    "mentioned_operators",
    "queue_after_reply",
    "queue_email",
    "queue_mentions",
    "queue_reply_digest",
    "queue_started",
    "request_transcript",
    "resend_email",
    "unsubscribe_operator",
    "unsubscribe_visitor",
]

_log = logging.getLogger("chatdesk.email")
EMAIL_KIND = "email"
# The operator notifications an unsubscribe link can turn off.
OPERATOR_NOTIFICATIONS = ("unanswered", "mention")


def queue_email(unit: Unit, payload: dict[str, Any], *, not_before: datetime | None = None) -> str:
    """Queue one email job in ``unit`` (the outbox's ``enqueue``); returns the job id."""
    return enqueue(unit, EMAIL_KIND, payload, not_before=not_before)


def queue_after_reply(
    unit: Unit,
    actor: OperatorActor,
    conversation: Any,
    message: Message,
    email_away: int,
) -> None:
    """What an operator's (or bot's) message causes by email: the visitor's reply digest
    for a public reply (when the visitor gave an email and did not unsubscribe), a
    mention email for each operator it @mentions. ``conversation`` carries
    ``visitor_email`` and ``visitor_unsubscribed`` (read with it, no query here)."""
    if (
        not message["private"]
        and conversation.visitor_email
        and conversation.visitor_unsubscribed is None
    ):
        queue_reply_digest(unit, conversation.id, email_away)
    if "@" in message["body"] and not actor.is_bot:
        queue_mentions(unit, actor, conversation, message["id"], message["body"])


# -- what changes cause ------------------------------------------------------------------


def queue_reply_digest(unit: Unit, conversation_id: str, email_away: int) -> None:
    """After a public operator (or bot) reply to a visitor with an email address: check
    back in ``email_away`` seconds whether the visitor saw it; the sender emails then
    what they have not seen (one email for every reply since, see ``jobs/email.py``).

    One job per reply, so the last reply's check always comes ``email_away`` after it:
    a job that finds nothing new (an earlier job's email carried it, or the visitor
    came back) sends nothing.
    """
    payload = {"template": "replies", "conversation_id": conversation_id}
    queue_email(unit, payload, not_before=unit.now + timedelta(seconds=email_away))


def queue_started(unit: Unit, actor: VisitorActor, conversation_id: str) -> None:
    """A visitor started a conversation (email on): the offline acknowledgement when the
    site is away and the visitor gave an email; each operator's "unanswered" check."""
    site = unit.conn.execute(
        select(sites.c.business_hours).where(sites.c.id == actor.site_id)
    ).one()
    visitor = unit.conn.execute(
        select(visitors.c.email, visitors.c.email_unsubscribed_at).where(
            visitors.c.id == actor.visitor_id
        )
    ).one()
    if (
        visitor.email
        and visitor.email_unsubscribed_at is None
        and not is_open(site.business_hours, unit.now)
    ):
        queue_email(unit, {"template": "offline_ack", "conversation_id": conversation_id})
    for operator_id, minutes in _unanswered_watchers(unit, actor.site_id):
        queue_email(
            unit,
            {
                "template": "unanswered",
                "conversation_id": conversation_id,
                "operator_id": operator_id,
            },
            not_before=unit.now + timedelta(minutes=minutes),
        )


def _site_members(site_id: str) -> Any:
    """Whether an operator works on ``site_id``: admins and owners see every site."""
    member = select(site_operators.c.operator_id).where(site_operators.c.site_id == site_id)
    return or_(operators.c.role.in_(("admin", "owner")), operators.c.id.in_(member))


def _unanswered_watchers(unit: Unit, site_id: str) -> list[tuple[str, int]]:
    rows = unit.conn.execute(
        select(operators.c.id, operators.c.notify_unanswered_minutes).where(
            operators.c.active.is_(True),
            operators.c.notify_unanswered_minutes.is_not(None),
            _site_members(site_id),
        )
    ).all()
    return [(row.id, int(row.notify_unanswered_minutes)) for row in rows]


# A mention ends where the handle does: not inside a longer word or an email address
# ("@jdoe." ends a sentence; "@jdoe.example" is a domain).
_MENTION_END = r"(?![\w@-]|\.\w)"


def mentioned_operators(
    conn: Any, site_id: str, body: str, author_id: str, *, wanting_email: bool = True
) -> list[str]:
    """Ids of the site's active operators that ``body`` @mentions, by name (``@Jane Doe``,
    any case) or by the part of their email before the @ (``@jane``); never the author.
    With ``wanting_email``, only those who want mention emails."""
    if "@" not in body:
        return []
    query = select(operators.c.id, operators.c.name, operators.c.email).where(
        operators.c.active.is_(True),
        operators.c.id != author_id,
        _site_members(site_id),
    )
    if wanting_email:
        query = query.where(operators.c.notify_mentions.is_(True))
    rows = conn.execute(query.order_by(operators.c.id)).all()
    text = body.casefold()
    found = []
    for row in rows:
        handles = {row.name.casefold(), row.email.split("@", 1)[0].casefold()}
        for handle in handles:
            pattern = re.compile(r"(?<![\w.])@" + re.escape(handle) + _MENTION_END)
            if handle and pattern.search(text):
                found.append(row.id)
                break
    return found


def queue_mentions(
    unit: Unit, actor: OperatorActor, conversation: Any, message_id: str, body: str
) -> None:
    """Queue a mention email for each operator ``body`` @mentions (a reply or a note)."""
    for operator_id in mentioned_operators(
        unit.conn, conversation.site_id, body, actor.operator_id
    ):
        queue_email(
            unit,
            {
                "template": "mention",
                "conversation_id": conversation.id,
                "message_id": message_id,
                "operator_id": operator_id,
            },
        )


# -- what visitors and links ask for ------------------------------------------------------


def request_transcript(
    unit: Unit, actor: VisitorActor, conversation_id: str, *, email_enabled: bool
) -> None:
    """The visitor asks for the conversation's transcript by email (to the address on
    their profile): 404 for another's conversation, 409 when chatdesk sends no email,
    422 when they gave no address. An explicit request: sent even after they
    unsubscribed from other email. A blocked visitor is refused (403)."""
    row = access_conversation(unit.conn, actor, conversation_id)
    check_not_blocked(unit.conn, actor.visitor_id, unit.now)  # no email for a blocked visitor
    if not email_enabled:
        raise Conflict("This chat cannot send email.")
    email = unit.conn.execute(
        select(visitors.c.email).where(visitors.c.id == actor.visitor_id)
    ).scalar_one()
    if not email:
        raise ValidationFailed(
            "Add your email address first: the transcript is sent there.", {"field": "email"}
        )
    queue_email(unit, {"template": "transcript", "conversation_id": row.id})


def unsubscribe_visitor(unit: Unit, visitor_id: str) -> bool:
    """Stop the emails chatdesk sends a visitor unasked (reply digests, acknowledgements);
    True when there was a visitor to unsubscribe (again is no change)."""
    result = unit.conn.execute(
        update(visitors)
        .where(visitors.c.id == visitor_id, visitors.c.email_unsubscribed_at.is_(None))
        .values(email_unsubscribed_at=unit.now)
    )
    if result.rowcount:
        return True
    found = unit.conn.execute(select(visitors.c.id).where(visitors.c.id == visitor_id)).first()
    return found is not None


def unsubscribe_operator(unit: Unit, operator_id: str, notification: str) -> bool:
    """Turn one notification (``unanswered`` or ``mention``) off for an operator; True
    when the operator exists."""
    if notification not in OPERATOR_NOTIFICATIONS:
        return False
    values: dict[str, Any] = (
        {"notify_unanswered_minutes": None}
        if notification == "unanswered"
        else {"notify_mentions": False}
    )
    result = unit.conn.execute(
        update(operators).where(operators.c.id == operator_id).values(**values, updated_at=unit.now)
    )
    return bool(result.rowcount)


# -- what admins do -------------------------------------------------------------------------


def resend_email(
    unit: Unit,
    actor: OperatorActor,
    job_id: str,
    *,
    email_enabled: bool,
    ip: str | None = None,
) -> EmailJob:
    """Queue a failed email job again, due now, with its attempts counted afresh (the
    same job id, so the same Message-ID). 404 for what is not an email job, 409 for one
    that has not failed or when chatdesk sends no email. The email is rendered when it
    is sent, so it says what is true then. Its age still counts from when it was queued:
    one older than ``CHATDESK_JOB_MAX_AGE_HOURS`` gets this one attempt."""
    row = access_email_job(unit.conn, actor, job_id)
    if not email_enabled:
        raise Conflict("chatdesk sends no email: CHATDESK_SMTP_URL is not set.")
    if row.status != "failed":
        raise Conflict("Only a failed email can be sent again.", {"status": row.status})
    unit.conn.execute(
        update(outbox)
        .where(outbox.c.id == job_id, outbox.c.status == "failed")
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=unit.now,
            claimed_until=None,
            delivered_at=None,
        )
    )
    shown = email_job(unit.conn, job_id)
    record(
        unit,
        "email.resend",
        operator_id=actor.operator_id,
        target_type="email",
        target_id=job_id,
        ip=ip,
        details={"kind": shown["kind"], "attempts": row.attempts, "last_error": row.last_error},
    )
    return shown
