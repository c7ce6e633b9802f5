"""Erasing a visitor for good, on their request (GDPR art. 17)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, delete, func, select

from chatdesk.access import access_visitor, require_role
from chatdesk.actions.attachments import storage_keys
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import attachments, conversations, events, messages, outbox, visitors
from chatdesk.security.principals import OperatorActor

__all__ = ["delete_jobs_about", "erase_visitor"]


def erase_visitor(
    unit: Unit, actor: OperatorActor, visitor_id: str, *, ip: str | None = None
) -> list[str]:
    """Delete a visitor (admins and owners of their site) with their sessions,
    conversations, messages, attachments' rows, events and the outbox's jobs about
    them; returns the file store keys
    of their attachments, which the caller removes once this unit is committed (what it
    misses, ``chatdesk purge`` finds as files without rows). Blocks stay, without the
    visitor: they guard against what the visitor did. The audit entry counts what went
    and names nobody."""
    require_role(actor, "admin")
    row = access_visitor(unit.conn, actor, visitor_id)
    files = unit.conn.execute(
        select(attachments)
        .join(conversations, conversations.c.id == attachments.c.conversation_id)
        .where(conversations.c.visitor_id == visitor_id)
    ).all()
    counted = unit.conn.execute(
        select(
            select(func.count())
            .select_from(conversations)
            .where(conversations.c.visitor_id == visitor_id)
            .scalar_subquery(),
            select(func.count())
            .select_from(messages.join(conversations))
            .where(conversations.c.visitor_id == visitor_id)
            .scalar_subquery(),
        )
    ).one()
    theirs = select(conversations.c.id).where(conversations.c.visitor_id == visitor_id)
    their_events = select(events.c.id).where(events.c.visitor_id == visitor_id)
    delete_jobs_about(unit.conn, their_events, theirs)
    unit.conn.execute(delete(events).where(events.c.visitor_id == visitor_id))
    unit.conn.execute(delete(visitors).where(visitors.c.id == visitor_id))  # the rest cascades
    record(
        unit,
        "visitor.erase",
        operator_id=actor.operator_id,
        target_type="visitor",
        target_id=visitor_id,
        ip=ip,
        details={
            "site_id": row.site_id,
            "conversations": counted[0],
            "messages": counted[1],
            "attachments": len(files),
        },
    )
    return [key for file in files for key in storage_keys(file)]


def delete_jobs_about(
    conn: Connection, event_ids: Select[Any], conversation_ids: Select[Any]
) -> None:
    """Delete the outbox's jobs that would still speak of what goes: webhook deliveries
    of these events, emails about these conversations (call before deleting them)."""
    conn.execute(
        delete(outbox).where(
            (outbox.c.event_id.in_(event_ids))
            | (outbox.c.payload["conversation_id"].as_string().in_(conversation_ids))
        )
    )
