"""Who gets a conversation: the one path every change of assignee takes, and automatic
assignment (round-robin, least-busy, on first reply) built on it (ADR 0016).

Every assignment, manual or automatic, goes through :func:`apply_changes`: it updates
the conversation, appends one ``conversation.updated`` event and one audit entry per
changed field, in the caller's unit of work.

Automatic assignment is decided inside the unit that needs it, with the site's row
locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's single writer serialises every
unit anyway): two processes routing conversations of one site at once take turns, so
the second sees the first's assignment, and neither hands out the same turn twice nor
fills an operator past ``max_open``. Who is online lives in each process's memory
(realtime/operator_presence.py), so the web layer passes the connected operators in;
the database tells who is active, away, a member of the site and how busy.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update

from chatdesk.actions.audit import record
from chatdesk.actions.events import append_conversation_updated
from chatdesk.actions.timeline import SYSTEM, Change, record_changes
from chatdesk.clock import iso
from chatdesk.db.batch import Unit
from chatdesk.db.tables import conversations, operators, site_operators, sites
from chatdesk.shape_types import Author

__all__ = [
    "ASSIGNMENT_MODES",
    "apply_changes",
    "assign",
    "route_for_operator",
    "route_new",
    "route_waiting",
]

ASSIGNMENT_MODES = ("manual", "round_robin", "least_busy")
# A sweep for waiting conversations assigns at most this many in one unit of work.
SWEEP_LIMIT = 50


def apply_changes(
    unit: Unit,
    row: Any,
    values: dict[str, Any],
    changed: list[str],
    *,
    by: str | None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    change: Change | None = None,
    author: Author | None = None,
    private: bool | None = None,
) -> Any:
    """Write ``values`` (already compared with ``row``) to the conversation, write the
    timeline's entries for ``change`` as made by ``author`` (the system's when None),
    append one ``conversation.updated`` naming ``changed`` (``private``: kept from the
    visitor; by default only a change of labels is) and audit each field as done ``by``
    an operator (None: chatdesk itself, routing). Returns the updated row.

    Label changes are written by the caller before (they live in another table);
    ``details`` gives their audit value.
    """
    values["updated_at"] = unit.now
    unit.conn.execute(update(conversations).where(conversations.c.id == row.id).values(values))
    if change is not None:
        record_changes(unit, row, change, author or SYSTEM)
    if private is None:
        private = changed == ["labels"]
    row = append_conversation_updated(unit, row.id, changed, private=private)
    extra = details or {}
    for field in changed:
        entry = {field: _audited(values[field] if field in values else extra.get(field))}
        if field == "status" and values.get("snoozed_until") is not None:
            entry["snoozed_until"] = _audited(values["snoozed_until"])
        if field == "assignee_id" and "assigned_by" in extra:
            entry["assigned_by"] = extra["assigned_by"]
        record(
            unit,
            f"conversation.{field}",
            operator_id=by,
            target_type="conversation",
            target_id=row.id,
            ip=ip,
            details=entry,
        )
    return row


def _audited(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def assign(
    unit: Unit, row: Any, operator_id: str, *, by: str | None, how: str, ip: str | None = None
) -> Any:
    """Make ``operator_id`` the conversation's assignee (``how``: ``round_robin``,
    ``least_busy`` or ``reply``, kept in the audit entry); returns the updated row.
    The timeline tells it as done by ``by`` (the operator who replied), or by the
    system for automatic routing."""
    author: Author = SYSTEM
    if by is not None:
        name = unit.conn.execute(select(operators.c.name).where(operators.c.id == by)).scalar()
        author = {"type": "operator", "id": by, "name": name}
    return apply_changes(
        unit,
        row,
        {"assignee_id": operator_id},
        ["assignee_id"],
        by=by,
        ip=ip,
        details={"assigned_by": how},
        change=Change(assignee=(row.assignee_id, operator_id)),
        author=author,
    )


def _lock_site(unit: Unit, site_id: str) -> Any:
    # FOR UPDATE on PostgreSQL; SQLAlchemy leaves it out on SQLite, whose single writer
    # already runs one unit at a time.
    return unit.conn.execute(
        select(sites.c.assignment, sites.c.last_assigned_id)
        .where(sites.c.id == site_id)
        .with_for_update()
    ).one()


def _candidates(unit: Unit, site_id: str, online: Collection[str]) -> list[tuple[str, int]]:
    """(operator id, open conversations assigned to them) for each online operator who
    answers ``site_id`` and has room under their ``max_open``, by id."""
    if not online:
        return []
    member = select(site_operators.c.operator_id).where(site_operators.c.site_id == site_id)
    busy = (
        select(func.count())
        .where(conversations.c.assignee_id == operators.c.id, conversations.c.status == "open")
        .scalar_subquery()
    )
    rows = unit.conn.execute(
        select(operators.c.id, operators.c.max_open, busy)
        .where(
            operators.c.id.in_(sorted(online)),
            operators.c.active.is_(True),
            operators.c.away.is_(False),
            or_(operators.c.role.in_(("owner", "admin")), operators.c.id.in_(member)),
        )
        .order_by(operators.c.id)
    ).all()
    return [(row[0], int(row[2])) for row in rows if row[1] is None or int(row[2]) < int(row[1])]


def _next_after(ids: list[str], last: str | None) -> str:
    """The first of ``ids`` (sorted) after ``last``, wrapping round."""
    if last is not None:
        for operator_id in ids:
            if operator_id > last:
                return operator_id
    return ids[0]


def _choose(
    unit: Unit, site_id: str, mode: str, last: str | None, online: Collection[str]
) -> str | None:
    candidates = _candidates(unit, site_id, online)
    if not candidates:
        return None
    if mode == "least_busy":
        fewest = min(count for _, count in candidates)
        candidates = [c for c in candidates if c[1] == fewest]
    # Round-robin, and least-busy's ties: the next turn after the last one given.
    return _next_after([operator_id for operator_id, _ in candidates], last)


def _route(
    unit: Unit, row: Any, mode: str, last: str | None, online: Collection[str]
) -> str | None:
    chosen = _choose(unit, row.site_id, mode, last, online)
    if chosen is not None:
        assign(unit, row, chosen, by=None, how=mode)
        unit.conn.execute(
            update(sites).where(sites.c.id == row.site_id).values(last_assigned_id=chosen)
        )
    return chosen


def route_new(
    unit: Unit, site_id: str, conversation_id: str, online: Collection[str]
) -> str | None:
    """Give a new conversation to an online operator when its site routes automatically;
    returns who got it (None: the site assigns by hand, or nobody has room: it waits
    for :func:`route_waiting`)."""
    site = _lock_site(unit, site_id)
    if site.assignment == "manual":
        return None
    row = unit.conn.execute(
        select(conversations).where(conversations.c.id == conversation_id)
    ).one()
    if row.assignee_id is not None:
        return None
    return _route(unit, row, site.assignment, site.last_assigned_id, online)


def route_for_operator(unit: Unit, operator_id: str, online: Collection[str]) -> int:
    """``operator_id`` came online (or chose Online again): route the waiting
    conversations of the sites they answer that route automatically."""
    row = unit.conn.execute(
        select(operators.c.role, operators.c.active).where(operators.c.id == operator_id)
    ).first()
    if row is None or not row.active:
        return 0
    query = select(sites.c.id).where(sites.c.assignment != "manual")
    if row.role not in ("owner", "admin"):
        member = select(site_operators.c.site_id).where(site_operators.c.operator_id == operator_id)
        query = query.where(sites.c.id.in_(member))
    site_ids = list(unit.conn.execute(query).scalars())
    return route_waiting(unit, site_ids, online) if site_ids else 0


def route_waiting(unit: Unit, site_ids: Collection[str], online: Collection[str]) -> int:
    """Give each of ``site_ids``'s open, unassigned conversations (oldest first) to an
    online operator with room, while there is one: an operator came online or freed
    capacity. Returns how many were assigned."""
    assigned = 0
    for site_id in sorted(site_ids):
        site = _lock_site(unit, site_id)
        if site.assignment == "manual":
            continue
        last = site.last_assigned_id
        waiting = unit.conn.execute(
            select(conversations)
            .where(
                conversations.c.site_id == site_id,
                conversations.c.status == "open",
                conversations.c.assignee_id.is_(None),
            )
            .order_by(conversations.c.created_at, conversations.c.id)
            .limit(SWEEP_LIMIT - assigned)
        ).all()
        for row in waiting:
            chosen = _route(unit, row, site.assignment, last, online)
            if chosen is None:
                break
            last = chosen
            assigned += 1
        if assigned >= SWEEP_LIMIT:
            break
    return assigned
