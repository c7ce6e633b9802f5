"""Email jobs of the outbox as the console lists them: what each was, to whom, and how
its sending went.

An email job's payload names what to send, not its text (``actions/email.py``): the
recipient and the subject are decided when the job is sent. The list shows them as
they would be *now*, from the same rows the sender reads: the visitor's address for a
visitor's email, the operator's for an operator's, the subject line the email carries
(site and visitor names, never a message). A job whose conversation or operator is gone
shows none (``to`` and ``subject`` are null). A payload that names its recipient
(``to``) is shown with it. No message text is ever read here, so a private note never
reaches the list.

``updated_at`` is when the job reached its state: when it was sent (``delivered``),
when its last attempt failed for good (``failed``: the outbox records that time in the
job's ``next_attempt_at``, as a failed job is never due again), when it was queued
(``pending``, whose ``next_attempt_at`` says when it is tried next).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from chatdesk.clock import iso
from chatdesk.db.tables import conversations, operators, outbox, sites, visitors
from chatdesk.queries.email import OPERATOR_TEMPLATES, VISITOR_TEMPLATES, email_subject
from chatdesk.shape_types import DeliveryStatus, EmailJob

__all__ = ["EMAIL_KIND_PREFIX", "email_job", "is_email_kind", "list_email_jobs"]

# Every outbox kind that is an email starts with this ("email", "email.<what>").
EMAIL_KIND_PREFIX = "email"


def is_email_kind(kind: str) -> bool:
    """Whether an outbox job of ``kind`` is an email."""
    return kind.startswith(EMAIL_KIND_PREFIX)


def list_email_jobs(conn: Connection, status: DeliveryStatus, limit: int = 50) -> list[EmailJob]:
    """The newest ``limit`` email jobs in ``status``, newest first (job ids are
    time-ordered). Three queries, however many jobs."""
    rows = conn.execute(
        select(outbox)
        .where(outbox.c.kind.startswith(EMAIL_KIND_PREFIX), outbox.c.status == status)
        .order_by(outbox.c.id.desc())
        .limit(limit)
    ).all()
    return _shaped(conn, rows)


def email_job(conn: Connection, job_id: str) -> EmailJob:
    """One email job by id (call after ``access_email_job``)."""
    row = conn.execute(select(outbox).where(outbox.c.id == job_id)).one()
    return _shaped(conn, [row])[0]


def _shaped(conn: Connection, rows: Sequence[Row[Any]]) -> list[EmailJob]:
    payloads = [row.payload if isinstance(row.payload, dict) else {} for row in rows]
    threads = _conversations(conn, _strings(p.get("conversation_id") for p in payloads))
    staff = _operators(conn, _strings(p.get("operator_id") for p in payloads))
    return [
        _shape(row, payload, threads, staff) for row, payload in zip(rows, payloads, strict=True)
    ]


def _strings(values: Iterable[Any]) -> set[str]:
    return {value for value in values if isinstance(value, str)}


def _conversations(conn: Connection, ids: set[str]) -> dict[str, Any]:
    if not ids:
        return {}
    rows = conn.execute(
        select(
            conversations.c.id,
            sites.c.name.label("site_name"),
            visitors.c.name.label("visitor_name"),
            visitors.c.email.label("visitor_email"),
        )
        .join(sites, sites.c.id == conversations.c.site_id)
        .join(visitors, visitors.c.id == conversations.c.visitor_id)
        .where(conversations.c.id.in_(sorted(ids)))
    ).all()
    return {row.id: row for row in rows}


def _operators(conn: Connection, ids: set[str]) -> dict[str, Any]:
    if not ids:
        return {}
    rows = conn.execute(
        select(operators.c.id, operators.c.email).where(operators.c.id.in_(sorted(ids)))
    ).all()
    return {row.id: row for row in rows}


def _shape(
    row: Row[Any],
    payload: dict[str, Any],
    threads: dict[str, Any],
    staff: dict[str, Any],
) -> EmailJob:
    template = payload.get("template")
    kind = template if isinstance(template, str) else row.kind
    thread = threads.get(str(payload.get("conversation_id")))
    to, subject = _recipient(kind, payload, thread, staff)
    status = row.status
    updated = {"delivered": row.delivered_at, "failed": row.next_attempt_at}.get(status)
    return {
        "id": row.id,
        "kind": kind,
        "to": to,
        "subject": subject,
        "conversation_id": thread.id if thread is not None else None,
        "status": status,
        "attempts": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "updated_at": iso(updated or row.created_at),
        "next_attempt_at": iso(row.next_attempt_at) if status == "pending" else None,
        "delivered_at": iso(row.delivered_at),
    }


def _recipient(
    kind: str, payload: dict[str, Any], thread: Any, staff: dict[str, Any]
) -> tuple[str | None, str | None]:
    """(to, subject) as the email would be sent now; (None, None) when it cannot be."""
    named = payload.get("to")
    to = named if isinstance(named, str) else None
    if thread is None or kind not in (*VISITOR_TEMPLATES, *OPERATOR_TEMPLATES):
        return to, None
    if kind in VISITOR_TEMPLATES:
        to = to or thread.visitor_email
    else:
        operator = staff.get(str(payload.get("operator_id")))
        to = to or (operator.email if operator is not None else None)
    label = thread.visitor_name or thread.visitor_email or "a visitor"
    return to, email_subject(kind, thread.site_name, label)
