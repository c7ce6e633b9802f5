"""Starting conversations and changing their status, assignee and labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from chatdesk.access import access_conversation
from chatdesk.actions.blocks import check_not_blocked
from chatdesk.actions.email import queue_started
from chatdesk.actions.events import append_conversation_updated, append_event
from chatdesk.actions.messages import author_of, find_by_client_msg_id, insert_message
from chatdesk.actions.routing import apply_changes, route_new, route_waiting
from chatdesk.actions.snooze import check_snooze
from chatdesk.actions.timeline import Change, by_actor
from chatdesk.business_hours import is_open
from chatdesk.clock import aware
from chatdesk.db.batch import Unit
from chatdesk.db.tables import (
    conversation_labels,
    conversations,
    labels,
    operators,
    site_operators,
    sites,
    visitors,
)
from chatdesk.errors import ValidationFailed
from chatdesk.ids import new_id
from chatdesk.queries.conversations import conversation_for, labels_for
from chatdesk.security.principals import OperatorActor, VisitorActor, role_at_least
from chatdesk.shape_types import Conversation, Message, VisitorConversation
from chatdesk.shapes import conversation_shape, message_shape, visitor_shape

__all__ = ["mark_read", "start_conversation", "update_conversation"]

_UNSET: Any = object()


def start_conversation(
    unit: Unit,
    actor: VisitorActor,
    body: str,
    client_msg_id: str,
    *,
    email_away: int | None = None,
    online: frozenset[str] = frozenset(),
) -> tuple[VisitorConversation, Message, bool]:
    """A visitor's new conversation with its first message: (conversation, message, created).

    The same ``client_msg_id`` again returns the stored pair, never a second conversation.
    With ``email_away`` (email is on) it queues the emails a new conversation causes
    (:func:`chatdesk.actions.email.queue_started`). When the site routes automatically,
    one of ``online`` (the operators with a console open) gets it
    (:func:`chatdesk.actions.routing.route_new`).
    """
    author = author_of(unit, actor)
    existing = find_by_client_msg_id(unit, author[0], author[1], client_msg_id)
    if existing is not None:
        row = access_conversation(unit.conn, actor, existing.conversation_id)
        return conversation_for(unit.conn, row, actor), message_shape(existing), False
    check_not_blocked(unit.conn, actor.visitor_id, unit.now)
    conversation_id = new_id()
    unit.conn.execute(
        insert(conversations).values(
            id=conversation_id,
            site_id=actor.site_id,
            visitor_id=actor.visitor_id,
            status="open",
            assignee_id=None,
            created_at=unit.now,
            updated_at=unit.now,
            last_message_at=unit.now,
            last_message_preview="",
            last_message_author="visitor",
            unread_count=0,
            in_business_hours=_in_business_hours(unit, actor.site_id),
        )
    )
    row = _load(unit, conversation_id)
    visitor = unit.conn.execute(select(visitors).where(visitors.c.id == actor.visitor_id)).one()
    append_event(
        unit,
        "conversation.created",
        site_id=actor.site_id,
        conversation_id=conversation_id,
        visitor_id=actor.visitor_id,
        private=False,
        data={"conversation": conversation_shape(row, [], visitor_shape(visitor))},
    )
    # Routed before the first message is stored, so every console knows the assignee
    # when the message arrives (whom it notifies depends on it).
    route_new(unit, actor.site_id, conversation_id, online)
    message = insert_message(unit, row, author, body, client_msg_id)
    if email_away is not None:
        queue_started(unit, actor, conversation_id)
    return conversation_for(unit.conn, _load(unit, conversation_id), actor), message, True


def _load(unit: Unit, conversation_id: str) -> Any:
    return unit.conn.execute(
        select(conversations).where(conversations.c.id == conversation_id)
    ).one()


def _check_assignee(unit: Unit, site_id: str, assignee_id: str) -> None:
    row = unit.conn.execute(select(operators).where(operators.c.id == assignee_id)).first()
    member = row is not None and (
        role_at_least(row.role, "admin")
        or unit.conn.execute(
            select(site_operators).where(
                site_operators.c.site_id == site_id, site_operators.c.operator_id == assignee_id
            )
        ).first()
        is not None
    )
    if row is None or not row.active or not member:
        raise ValidationFailed(
            "The assignee must be an active operator of this conversation's site.",
            {"field": "assignee_id"},
        )


def _set_labels(unit: Unit, conversation_id: str, names: list[str]) -> None:
    wanted = sorted(set(names))
    existing = dict(
        unit.conn.execute(select(labels.c.name, labels.c.id).where(labels.c.name.in_(wanted))).all()
    )
    for name in wanted:
        if name not in existing:
            existing[name] = new_id()
            unit.conn.execute(
                insert(labels).values(id=existing[name], name=name, created_at=unit.now)
            )
    unit.conn.execute(
        delete(conversation_labels).where(conversation_labels.c.conversation_id == conversation_id)
    )
    if wanted:
        unit.conn.execute(
            insert(conversation_labels),
            [{"conversation_id": conversation_id, "label_id": existing[n]} for n in wanted],
        )


def update_conversation(
    unit: Unit,
    actor: OperatorActor,
    conversation_id: str,
    *,
    status: str | None = None,
    snoozed_until: datetime | None = None,
    assignee_id: str | None = _UNSET,
    labels_: list[str] | None = None,
    ip: str | None = None,
    online: frozenset[str] | None = None,
) -> Conversation:
    """Change status (incl. snooze), assignee and/or labels; appends ``conversation.updated``
    and the timeline's entries (:func:`chatdesk.actions.timeline.record_changes`) on change.

    ``snoozed_until`` goes with ``status: "snoozed"`` (or alone, on a snoozed
    conversation, to move its wake-up); any other status clears it. A bot token's
    ``{assignee_id: null, status: "open"}`` hands the conversation to the team: it also
    appends ``conversation.handoff`` (whether or not anything changed), which the
    site's operators and the visitor see.

    An assigned open conversation that stops being open (snoozed too), or is given to
    another operator, frees its assignee's capacity: with ``online`` (the connected
    operators), the site's waiting conversations are routed again
    (:func:`chatdesk.actions.routing.route_waiting`).
    """
    row = access_conversation(unit.conn, actor, conversation_id)
    # Resolved, pending or snoozed, or given to someone else: its assignee has room again.
    frees = (
        row.assignee_id is not None
        and row.status == "open"
        and (
            status not in (None, "open")
            or (assignee_id not in (_UNSET, None) and assignee_id != row.assignee_id)
        )
    )
    handoff = actor.is_bot and status == "open" and assignee_id is None
    until = check_snooze(unit.now, row.status, status, snoozed_until)
    values: dict[str, Any] = {}
    changed: list[str] = []
    change = Change()
    if status is not None and status != row.status:
        values["status"] = status
        values["snoozed_until"] = until
        changed.append("status")
        change.status = (row.status, status)
        change.snoozed_until = until
        values.update(_resolution(unit.now, row, status))
    elif until is not None and until != _aware(row.snoozed_until):
        values["snoozed_until"] = until
        changed.append("snoozed_until")
        change.snoozed_until = until
    if assignee_id is not _UNSET and assignee_id != row.assignee_id:
        if assignee_id is not None:
            _check_assignee(unit, row.site_id, assignee_id)
        values["assignee_id"] = assignee_id
        changed.append("assignee_id")
        change.assignee = (row.assignee_id, assignee_id)
    if labels_ is not None:
        current = labels_for(unit.conn, [row.id])[row.id]
        if sorted(set(labels_)) != current:
            _set_labels(unit, row.id, labels_)
            changed.append("labels")
            change.labels = (current, sorted(set(labels_)))
    if changed:
        # Visitors see status and assignee changes; labels and snoozes are internal (a
        # snoozed conversation looks open to its visitor).
        seen = {"status", "assignee_id"} & set(changed)
        if seen == {"status"} and _looks_same(row.status, status):
            seen = set()
        row = apply_changes(
            unit,
            row,
            values,
            changed,
            by=actor.operator_id,
            ip=ip,
            details={"labels": labels_},
            change=change,
            author=by_actor(actor),
            private=not seen,
        )
    if handoff:
        _append_handoff(unit, actor, row.id)
    if frees and online is not None and ({"status", "assignee_id"} & set(changed)):
        route_waiting(unit, [row.site_id], online)
    return conversation_for(unit.conn, row, actor)


def _in_business_hours(unit: Unit, site_id: str) -> bool:
    """Whether a conversation starting now starts inside the site's business hours
    (kept for the reports, ADR 0026)."""
    hours = unit.conn.execute(select(sites.c.business_hours).where(sites.c.id == site_id)).scalar()
    return is_open(hours, unit.now)


def _resolution(now: datetime, row: Any, status: str) -> dict[str, Any]:
    """The report timings a change of status sets (ADR 0026): resolving stamps when and
    how long after the start; leaving "resolved" (reopening) clears both until the next
    resolution, which is measured from the start again."""
    if status == "resolved":
        seconds = round((now - aware(row.created_at)).total_seconds())
        return {"resolved_at": now, "resolution_seconds": seconds}
    if row.status == "resolved":
        return {"resolved_at": None, "resolution_seconds": None}
    return {}


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def _looks_same(before: str, after: str | None) -> bool:
    """Whether the visitor sees no difference (snoozed and open both look open)."""
    return {before, after} <= {"open", "snoozed"}


def _append_handoff(unit: Unit, actor: OperatorActor, conversation_id: str) -> None:
    row = _load(unit, conversation_id)
    append_event(
        unit,
        "conversation.handoff",
        site_id=row.site_id,
        conversation_id=row.id,
        visitor_id=row.visitor_id,
        private=False,
        data={
            "conversation": conversation_shape(row, labels_for(unit.conn, [row.id])[row.id]),
            "by": {"type": "bot", "id": actor.api_token_id, "name": actor.name},
        },
    )


def mark_read(unit: Unit, actor: OperatorActor, conversation_id: str) -> Conversation:
    """Clear the conversation's unread count (the team's shared count)."""
    row = access_conversation(unit.conn, actor, conversation_id)
    if row.unread_count:
        unit.conn.execute(
            update(conversations).where(conversations.c.id == row.id).values(unread_count=0)
        )
        row = append_conversation_updated(unit, row.id, ["unread_count"], private=True)
    return conversation_for(unit.conn, row, actor)
