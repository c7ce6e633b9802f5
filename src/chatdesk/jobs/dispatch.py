"""Webhook deliveries derived from the event log (ADR 0012).

The message path does no webhook work: every change already appends its event in
its own transaction. The dispatcher reads the events after its own durable cursor
(the ``meta`` row ``webhooks_dispatched_through``) and, in **one** unit of work,
inserts one outbox job per event and matching active webhook and moves the cursor
past those events. Either both happen or neither, so a crash never loses or
invents a delivery.

Only one dispatcher moves the cursor at a time: on PostgreSQL the unit locks the
cursor row (``SELECT … FOR UPDATE``; its writer batch also holds the event-append
lock, so every event up to the head is committed and none is appended meanwhile);
SQLite's single writer serialises it.

What a webhook gets: events with ids above its ``after_event_id`` (the log's head
when it was made: never older events), of its site (or every site), of the types
it lists. ``conversation.resolved`` accompanies a ``conversation.updated`` whose
change sets the status to resolved; read markers (a change of ``unread_count``
only) are not sent; private notes only to webhooks with ``include_private``. Events
that happen while a webhook is paused are not queued for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from chatdesk.db.batch import Unit
from chatdesk.db.tables import events, meta, webhooks
from chatdesk.jobs.outbox import insert_deliveries

__all__ = ["CURSOR_KEY", "PAGE", "Dispatched", "dispatch_events", "webhook_types"]

CURSOR_KEY = "webhooks_dispatched_through"
# Events read per unit: bounds the unit's time in the writer; the worker runs the next
# page at once when there is more.
PAGE = 1000
# Event-log types that become webhook deliveries (conversation.resolved is derived).
_LOG_TYPES = ("conversation.created", "conversation.updated", "message.created", "rating.created")


@dataclass(frozen=True, slots=True)
class Dispatched:
    """One dispatcher run: jobs queued, the cursor after it, whether events remain."""

    queued: int
    cursor: int
    more: bool


def dispatch_events(unit: Unit, page: int = PAGE) -> Dispatched:
    """Queue the deliveries of up to ``page`` events after the cursor and move the cursor
    past them (a unit of work). Does nothing, writing nothing, while no webhook is active."""
    stored = _lock_cursor(unit)
    cursor = stored or 0
    hooks = unit.conn.execute(select(webhooks).where(webhooks.c.active.is_(True))).all()
    if not hooks:
        return Dispatched(0, cursor, False)
    head = unit.conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one()
    # Nothing at or below every webhook's first event is for anyone: skip it unread.
    start = max(cursor, min(int(hook.after_event_id) for hook in hooks))
    end = min(int(head), start + page)
    if end <= cursor:
        return Dispatched(0, cursor, False)
    rows = unit.conn.execute(
        select(events.c.id, events.c.type, events.c.site_id, events.c.private)
        .where(events.c.id > start, events.c.id <= end, events.c.type.in_(_LOG_TYPES))
        .order_by(events.c.id)
    ).all()
    # Only conversation.updated needs its data read (which change it was); the bodies
    # are made from the events when the deliveries are claimed.
    updated = [row.id for row in rows if row.type == "conversation.updated"]
    data = dict(
        unit.conn.execute(select(events.c.id, events.c.data).where(events.c.id.in_(updated))).all()
        if updated
        else ()
    )
    jobs = [
        (hook.id, type_, row.id)
        for row in rows
        for type_ in webhook_types(row.type, data.get(row.id) or {})
        for hook in hooks
        if _wants(hook, row, type_)
    ]
    insert_deliveries(unit, jobs)
    _save_cursor(unit, end, existed=stored is not None)
    return Dispatched(len(jobs), end, end < int(head))


def webhook_types(event_type: str, data: dict[str, Any]) -> list[str]:
    """The webhook event types a logged event stands for (none, one, or two)."""
    if event_type != "conversation.updated":
        return [event_type]
    changes = data.get("changes") or []
    if changes == ["unread_count"]:  # a read marker: noise to an integration
        return []
    types = ["conversation.updated"]
    if "status" in changes and (data.get("conversation") or {}).get("status") == "resolved":
        types.append("conversation.resolved")
    return types


def _wants(hook: Any, row: Any, type_: str) -> bool:
    return (
        row.id > hook.after_event_id
        and type_ in hook.events
        and (hook.site_id is None or hook.site_id == row.site_id)
        and (hook.include_private or not (row.private and row.type == "message.created"))
    )


def _lock_cursor(unit: Unit) -> int | None:
    """The cursor, its row locked until the unit's transaction ends; None before the first
    dispatch."""
    value = unit.conn.execute(
        select(meta.c.value).where(meta.c.key == CURSOR_KEY).with_for_update()
    ).scalar()
    return None if value is None else int(value)


def _save_cursor(unit: Unit, cursor: int, *, existed: bool) -> None:
    if existed:
        unit.conn.execute(update(meta).where(meta.c.key == CURSOR_KEY).values(value=str(cursor)))
    else:  # two first dispatchers on PostgreSQL: the second fails here, rolled back whole
        unit.conn.execute(insert(meta).values(key=CURSOR_KEY, value=str(cursor)))
