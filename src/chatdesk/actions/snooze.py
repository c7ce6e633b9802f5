"""Snoozing: the checks on ``snoozed_until``, and waking snoozed conversations when due.

A snoozed conversation becomes ``open`` at its ``snoozed_until`` (the scheduler runs
:func:`wake_due`, ``jobs/scheduler.py``) or earlier when its visitor writes
(``actions/messages.py``, in the unit of the visitor's message).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select, update

from chatdesk.actions.events import append_conversation_updated
from chatdesk.actions.timeline import SYSTEM, record_entry
from chatdesk.clock import aware
from chatdesk.db.batch import Unit
from chatdesk.db.tables import conversations
from chatdesk.errors import ValidationFailed

__all__ = ["MAX_SNOOZE", "Woken", "check_snooze", "next_wake", "wake_due"]

# Further than this is a typo or a way to bury a conversation: resolve it instead.
MAX_SNOOZE = timedelta(days=365)
WAKE_BATCH = 100


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(message, {"field": "snoozed_until"})


def check_snooze(
    now: datetime, current: str, status: str | None, snoozed_until: datetime | None
) -> datetime | None:
    """The wake-up time to store for this change (None: none), or a clear 422."""
    if status == "snoozed" and snoozed_until is None:
        raise _invalid('snoozed_until is required with status "snoozed".')
    if snoozed_until is None:
        return None
    if status not in (None, "snoozed") or (status is None and current != "snoozed"):
        raise _invalid('snoozed_until goes only with status "snoozed".')
    until = aware(snoozed_until)
    if until <= now:
        raise _invalid("snoozed_until must be in the future.")
    if until > now + MAX_SNOOZE:
        raise _invalid("snoozed_until must be within a year from now.")
    return until


class Woken(NamedTuple):
    """What one :func:`wake_due` did: the conversations it woke, and when the next is due."""

    conversation_ids: list[str]
    next_due: datetime | None


def next_wake(conn: Connection) -> datetime | None:
    """When the next snoozed conversation is due (None: none is snoozed)."""
    found = conn.execute(
        select(func.min(conversations.c.snoozed_until)).where(conversations.c.status == "snoozed")
    ).scalar()
    return None if found is None else aware(found)


def wake_due(unit: Unit, limit: int = WAKE_BATCH) -> Woken:
    """Open the snoozed conversations whose time has come; idempotent and safe when two
    processes run it at once: each wake is a conditional UPDATE, so a conversation that
    another unit woke (or a visitor's message reopened) meanwhile is left alone, and on
    PostgreSQL the rows are claimed with SKIP LOCKED so two schedulers share the work."""
    query = (
        select(
            conversations.c.id,
            conversations.c.site_id,
            conversations.c.visitor_id,
        )
        .where(conversations.c.status == "snoozed", conversations.c.snoozed_until <= unit.now)
        .order_by(conversations.c.snoozed_until)
        .limit(limit)
    )
    if unit.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    woken: list[str] = []
    for row in unit.conn.execute(query).all():
        if _wake(unit, row):
            woken.append(row.id)
    return Woken(woken, next_wake(unit.conn))


def _wake(unit: Unit, row: Any) -> bool:
    done = unit.conn.execute(
        update(conversations)
        .where(
            conversations.c.id == row.id,
            conversations.c.status == "snoozed",
            conversations.c.snoozed_until <= unit.now,
        )
        .values(status="open", snoozed_until=None, updated_at=unit.now)
    )
    if done.rowcount != 1:
        return False
    record_entry(unit, row, "woke", {"reason": "time"}, SYSTEM)
    # Private: the visitor saw the conversation open all along.
    append_conversation_updated(unit, row.id, ["status"], private=True)
    return True
