"""Retention: conversations inactive for ``CHATDESK_RETENTION_DAYS`` deleted for good.

Run by the scheduler on the one process holding its lease (``jobs/scheduler.py``) and
by ``chatdesk purge``. A conversation goes as an erased visitor's do
(``actions/erasure.py``): with its messages, labels, attachments' rows (the caller
removes their files once the unit is committed), events and outbox jobs; and a visitor
left with no conversation and not seen since the cut goes too, with their sessions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, Connection, delete, exists, false, func, or_, select

from chatdesk.actions.attachments import storage_keys
from chatdesk.actions.audit import record
from chatdesk.actions.erasure import delete_jobs_about
from chatdesk.db.batch import Unit
from chatdesk.db.tables import attachments, conversations, events, outbox, visitors

__all__ = ["RETENTION_BATCH", "Expired", "expire_inactive", "inactive_count"]

RETENTION_BATCH = 500


class Expired(NamedTuple):
    """What one :func:`expire_inactive` deleted, the files to remove after its commit,
    and whether more is due (a full batch)."""

    conversations: int
    visitors: int
    keys: list[str]
    more: bool


def expire_inactive(unit: Unit, days: int, limit: int = RETENTION_BATCH) -> Expired:
    """Delete up to ``limit`` conversations with no activity (a message, a change, a
    snooze falling due) for more than ``days`` days, then visitors left without any.
    Safe when two processes run it at once: rows are claimed with SKIP LOCKED on
    PostgreSQL, and a row already deleted is simply not found."""
    cutoff = unit.now - timedelta(days=days)
    stale = (
        select(conversations.c.id)
        .where(*_inactive_since(cutoff))
        .order_by(conversations.c.updated_at)
        .limit(limit)
    )
    if unit.dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    ids = list(unit.conn.execute(stale).scalars())
    keys: list[str] = []
    if ids:
        files = unit.conn.execute(
            select(attachments).where(attachments.c.conversation_id.in_(ids))
        ).all()
        keys = [key for file in files for key in storage_keys(file)]
        chosen = select(conversations.c.id).where(conversations.c.id.in_(ids))
        their_events = select(events.c.id).where(events.c.conversation_id.in_(ids))
        delete_jobs_about(unit.conn, their_events, chosen)
        unit.conn.execute(delete(events).where(events.c.conversation_id.in_(ids)))
        # Messages, labels and attachments' rows cascade.
        unit.conn.execute(delete(conversations).where(conversations.c.id.in_(ids)))
    gone = _forget_visitors(unit, cutoff, limit)
    if ids or gone:
        # Webhook deliveries of events ``chatdesk purge`` already deleted (older than
        # CHATDESK_EVENT_RETENTION_DAYS) no longer say whose they were: they go too.
        unit.conn.execute(
            delete(outbox).where(
                outbox.c.event_id.is_not(None),
                ~exists().where(events.c.id == outbox.c.event_id),
            )
        )
        # Counts only: the audit log outlives what it describes.
        details = {"days": days, "conversations": len(ids), "visitors": gone, "files": len(keys)}
        record(unit, "retention.expire", operator_id=None, details=details)
    return Expired(len(ids), gone, keys, len(ids) == limit or gone == limit)


def _inactive_since(cutoff: datetime) -> list[ColumnElement[bool]]:
    return [
        conversations.c.updated_at < cutoff,
        conversations.c.last_message_at < cutoff,
        or_(conversations.c.snoozed_until.is_(None), conversations.c.snoozed_until < cutoff),
    ]


def inactive_count(conn: Connection, days: int, now: datetime) -> int:
    """How many conversations :func:`expire_inactive` would delete now (a read)."""
    cutoff = now - timedelta(days=days)
    query = select(func.count()).select_from(conversations).where(*_inactive_since(cutoff))
    return int(conn.execute(query).scalar_one())


def _forget_visitors(unit: Unit, cutoff: datetime, limit: int) -> int:
    """Visitors with no conversation left who were not seen since ``cutoff``."""
    idle = (
        select(visitors.c.id)
        .where(
            visitors.c.last_seen_at < cutoff,
            ~exists().where(conversations.c.visitor_id == visitors.c.id),
        )
        .limit(limit)
    )
    if unit.dialect.name == "postgresql":
        idle = idle.with_for_update(skip_locked=True)
    ids = list(unit.conn.execute(idle).scalars())
    if not ids:
        return 0
    chosen = select(visitors.c.id).where(visitors.c.id.in_(ids))
    their_events = select(events.c.id).where(events.c.visitor_id.in_(ids))
    delete_jobs_about(unit.conn, their_events, select(conversations.c.id).where(false()))
    unit.conn.execute(delete(events).where(events.c.visitor_id.in_(ids)))
    unit.conn.execute(delete(visitors).where(visitors.c.id.in_(chosen)))  # sessions cascade
    return len(ids)
