"""The conversation's timeline: who assigned, resolved, snoozed or labelled it (ADR 0017).

Each change is stored as a private system message (``author.type: "system"``,
``private: true``, a ``kind`` and its ``data``) in the same unit of work as the
change, with its ``message.created`` event: operators get it in the history and
live, and the one rule that keeps private notes from visitors keeps these too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from chatdesk.actions.events import append_message_created
from chatdesk.clock import iso
from chatdesk.db.batch import Unit
from chatdesk.db.tables import messages, operators
from chatdesk.ids import new_id
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import Author, Message, TimelineKind

__all__ = ["SYSTEM", "Change", "by_actor", "record_changes", "record_entry"]

# The author of automatic changes (a snooze running out, a visitor's message waking it).
SYSTEM: Author = {"type": "system", "id": None, "name": None}


class Change:
    """What one update did to a conversation, as the timeline tells it."""

    __slots__ = ("assignee", "labels", "snoozed_until", "status")

    def __init__(
        self,
        *,
        status: tuple[str, str] | None = None,
        snoozed_until: datetime | None = None,
        assignee: tuple[str | None, str | None] | None = None,
        labels: tuple[list[str], list[str]] | None = None,
    ) -> None:
        self.status = status  # (before, after)
        self.snoozed_until = snoozed_until  # the new wake-up time, when snoozed
        self.assignee = assignee  # (before, after) operator ids
        self.labels = labels  # (before, after) names


def by_actor(actor: OperatorActor) -> Author:
    """Who made a change: an operator, or a bot (its API token)."""
    if actor.is_bot and actor.api_token_id is not None:
        return {"type": "bot", "id": actor.api_token_id, "name": actor.name}
    return {"type": "operator", "id": actor.operator_id, "name": actor.name}


def _operator(unit: Unit, operator_id: str | None) -> dict[str, Any] | None:
    if operator_id is None:
        return None
    name = unit.conn.execute(
        select(operators.c.name).where(operators.c.id == operator_id)
    ).scalar_one_or_none()
    return {"id": operator_id, "name": name}


def record_changes(unit: Unit, conversation: Any, change: Change, by: Author) -> None:
    """Write the timeline entries for ``change`` (call in the unit that made it).

    The one hook every change of status, assignee or labels goes through, whoever made
    it: an operator, a bot, automatic assignment, or the system.
    """
    if change.status is not None:
        before, after = change.status
        if after == "snoozed":
            until = iso(change.snoozed_until)
            record_entry(unit, conversation, "snoozed", {"until": until, "previous": before}, by)
        else:
            record_entry(unit, conversation, "status", {"status": after, "previous": before}, by)
    elif change.snoozed_until is not None:  # snoozed again, until another time
        until = iso(change.snoozed_until)
        record_entry(unit, conversation, "snoozed", {"until": until, "previous": "snoozed"}, by)
    if change.assignee is not None:
        before_id, after_id = change.assignee
        data: dict[str, Any] = {
            "assignee": _operator(unit, after_id),
            "previous": _operator(unit, before_id),
        }
        record_entry(unit, conversation, "assigned" if after_id else "unassigned", data, by)
    if change.labels is not None:
        old, new = set(change.labels[0]), set(change.labels[1])
        data = {"added": sorted(new - old), "removed": sorted(old - new)}
        record_entry(unit, conversation, "labels", data, by)


def record_entry(
    unit: Unit, conversation: Any, kind: TimelineKind, data: dict[str, Any], by: Author
) -> Message:
    """Store one timeline entry and its private ``message.created`` event.

    ``conversation`` has ``id``, ``site_id`` and ``visitor_id``.
    """
    data = {**data, "by": by}
    message_id = new_id()
    unit.conn.execute(
        insert(messages).values(
            id=message_id,
            conversation_id=conversation.id,
            author_type="system",
            author_id=None,
            author_name=None,
            body="",
            private=True,
            client_msg_id=None,
            created_at=unit.now,
            kind=kind,
            data=data,
        )
    )
    shape: Message = {
        "id": message_id,
        "conversation_id": conversation.id,
        "author": {"type": "system", "id": None, "name": None},
        "body": "",
        "private": True,
        "client_msg_id": None,
        "created_at": iso(unit.now),
        "attachments": [],
        "mentions": [],
        "kind": kind,
        "data": data,
    }
    append_message_created(unit, conversation, shape, private=True)
    return shape
