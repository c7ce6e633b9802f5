"""Blocking abusive visitors: block, lift, and the refusal their writes get (ADR 0018).

A block names a visitor, their identity ``sub`` when the host site identified them, and
optionally the address of their latest widget session, for a set time. What the message
path checks is one column, ``visitors.blocked_until`` (the latest end of the visitor's
active blocks), which it reads with the conversation it loads anyway; these actions
keep it current. New sessions are checked against the blocks table itself (by ``sub``
and by address), off the message path.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, insert, or_, select, update

from chatdesk.access import SETTINGS_ROLE, access_block, access_visitor, require_role
from chatdesk.actions.audit import record
from chatdesk.clock import aware, iso
from chatdesk.db.batch import Unit
from chatdesk.db.tables import visitor_blocks, visitors
from chatdesk.errors import Conflict, Forbidden, Unauthorized
from chatdesk.ids import new_id
from chatdesk.queries.blocks import block_row_query
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import Block
from chatdesk.shapes import block_shape

__all__ = [
    "BLOCKED_MESSAGE",
    "block_visitor",
    "check_not_blocked",
    "check_session_allowed",
    "lift_block",
    "refuse_if_blocked",
]

BLOCKED_MESSAGE = (
    "You have been blocked from this chat for now, so your messages cannot be sent. "
    "If you think this is a mistake, please contact the site another way."
)
# The role that may lift a block; any operator of the visitor's site may make one.
LIFT_ROLE = SETTINGS_ROLE


def refuse_if_blocked(blocked_until: datetime | str | None, now: datetime) -> None:
    """Forbidden (the visitor is blocked) while ``blocked_until`` is in the future.

    A string is the column as SQLite's driver hands it to the message path's direct
    statements (no type processing there): SQLAlchemy's ``YYYY-MM-DD HH:MM:SS[.ffffff]``.
    """
    if blocked_until is None:
        return
    until = aware(
        datetime.fromisoformat(blocked_until) if isinstance(blocked_until, str) else blocked_until
    )
    if until > now:
        raise Forbidden(BLOCKED_MESSAGE, {"reason": "blocked", "blocked_until": iso(until)})


def check_not_blocked(conn: Connection, visitor_id: str, now: datetime) -> None:
    """Forbidden while the visitor is blocked (for writes that load no visitor row);
    Unauthorized when the visitor is gone (their site was deleted)."""
    row = conn.execute(select(visitors.c.blocked_until).where(visitors.c.id == visitor_id)).first()
    if row is None:
        raise Unauthorized("This visitor no longer exists; start a new session.")
    refuse_if_blocked(row.blocked_until, now)


def check_session_allowed(
    conn: Connection, site_id: str, external_id: str | None, ip: str | None, now: datetime
) -> None:
    """Forbidden when an active block of the site names this identity ``sub`` or address."""
    names = []
    if external_id is not None:
        names.append(visitor_blocks.c.external_id == external_id)
    if ip is not None:
        names.append(visitor_blocks.c.ip == ip)
    if not names:
        return
    until = conn.execute(
        select(func.max(visitor_blocks.c.expires_at)).where(
            visitor_blocks.c.site_id == site_id,
            visitor_blocks.c.lifted_at.is_(None),
            visitor_blocks.c.expires_at > now,
            or_(*names),
        )
    ).scalar()
    refuse_if_blocked(until, now)


def _sync_visitor(unit: Unit, visitor_id: str) -> None:
    """Set the visitor's ``blocked_until`` to the latest end of their active blocks."""
    until = unit.conn.execute(
        select(func.max(visitor_blocks.c.expires_at)).where(
            visitor_blocks.c.visitor_id == visitor_id,
            visitor_blocks.c.lifted_at.is_(None),
            visitor_blocks.c.expires_at > unit.now,
        )
    ).scalar()
    unit.conn.execute(
        update(visitors).where(visitors.c.id == visitor_id).values(blocked_until=until)
    )


def _shape(unit: Unit, block_id: str) -> Block:
    row = unit.conn.execute(block_row_query().where(visitor_blocks.c.id == block_id)).one()
    return block_shape(row, unit.now)


def block_visitor(
    unit: Unit,
    actor: OperatorActor,
    visitor_id: str,
    *,
    duration: timedelta,
    include_ip: bool,
    reason: str | None,
    ip: str | None = None,
) -> Block:
    """Block a visitor of a site ``actor`` belongs to, with their identity ``sub`` and
    (``include_ip``) the address of their latest session, for ``duration``."""
    require_role(actor, "agent")
    visitor = access_visitor(unit.conn, actor, visitor_id)
    if include_ip and visitor.last_ip is None:
        raise Conflict(
            "This visitor's address is not known; block them without it.",
            {"field": "include_ip"},
        )
    block_id = new_id()
    expires_at = unit.now + duration
    unit.conn.execute(
        insert(visitor_blocks).values(
            id=block_id,
            site_id=visitor.site_id,
            visitor_id=visitor.id,
            external_id=visitor.external_id,
            ip=visitor.last_ip if include_ip else None,
            reason=reason,
            created_by=actor.operator_id,
            created_at=unit.now,
            expires_at=expires_at,
        )
    )
    _sync_visitor(unit, visitor.id)
    record(
        unit,
        "visitor.block",
        operator_id=actor.operator_id,
        target_type="visitor",
        target_id=visitor.id,
        ip=ip,
        details={
            "block_id": block_id,
            "site_id": visitor.site_id,
            "until": iso(expires_at),
            "sub": visitor.external_id is not None,
            "address": include_ip,
        },
    )
    return _shape(unit, block_id)


def lift_block(unit: Unit, actor: OperatorActor, block_id: str, *, ip: str | None = None) -> None:
    """Lift a block now (admins and owners); one lifted or run out already is a conflict."""
    row: Row[Any] = access_block(unit.conn, actor, block_id)
    require_role(actor, LIFT_ROLE)
    if row.lifted_at is not None or aware(row.expires_at) <= unit.now:
        raise Conflict("This block has already ended.")
    unit.conn.execute(
        update(visitor_blocks)
        .where(visitor_blocks.c.id == block_id)
        .values(lifted_at=unit.now, lifted_by=actor.operator_id)
    )
    if row.visitor_id is not None:
        _sync_visitor(unit, row.visitor_id)
    record(
        unit,
        "visitor.unblock",
        operator_id=actor.operator_id,
        target_type="visitor",
        target_id=row.visitor_id,
        ip=ip,
        details={"block_id": block_id, "site_id": row.site_id},
    )
