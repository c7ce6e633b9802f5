"""Ending operators' sessions from the Sessions page (ADR 0030): one's own devices, and
an admin ending another operator's.

Sessions are looked up in the database on every request (security/auth.py caches
none), so a session ended here stops working at once, in every process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select, update

from chatdesk.access import access_operator
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_sessions
from chatdesk.errors import Forbidden, NotFound
from chatdesk.security.principals import OperatorActor

__all__ = [
    "access_sessions_of",
    "end_operator_session",
    "end_operator_sessions",
    "end_other_sessions",
    "end_own_session",
]


def access_sessions_of(conn: Connection, actor: OperatorActor, operator_id: str) -> Row[Any]:
    """The operator whose sessions ``actor`` may see and end: admins any agent's or
    admin's, owners anyone's (an owner's sessions are an owner's business only, as
    resetting their second factor is)."""
    target = access_operator(conn, actor, operator_id)
    if target.role == "owner" and actor.role != "owner":
        raise Forbidden("Only an owner sees and ends an owner's sessions.")
    return target


def _revoke(unit: Unit, operator_id: str, *, only: str | None, keep: str | None) -> list[str]:
    """Revoke the operator's unrevoked sessions (``only`` that one; never ``keep``);
    the ids revoked."""
    where = [
        operator_sessions.c.operator_id == operator_id,
        operator_sessions.c.revoked_at.is_(None),
    ]
    if only is not None:
        where.append(operator_sessions.c.id == only)
    if keep is not None:
        where.append(operator_sessions.c.id != keep)
    ids = list(unit.conn.execute(select(operator_sessions.c.id).where(*where)).scalars())
    if ids:
        unit.conn.execute(
            update(operator_sessions)
            .where(operator_sessions.c.id.in_(ids), operator_sessions.c.revoked_at.is_(None))
            .values(revoked_at=unit.now)
        )
    return ids


def _record(
    unit: Unit, actor: OperatorActor, operator_id: str, ids: list[str], ip: str | None
) -> None:
    by = "self" if operator_id == actor.operator_id else "admin"
    for session_id in ids:
        record(
            unit,
            "auth.session_end",
            operator_id=actor.operator_id,
            target_type="session",
            target_id=session_id,
            ip=ip,
            details={"operator_id": operator_id, "by": by},
        )


def end_own_session(unit: Unit, actor: OperatorActor, session_id: str, *, ip: str | None) -> None:
    """Sign one of one's own devices out; NotFound for a session not one's own or ended."""
    ids = _revoke(unit, actor.operator_id, only=session_id, keep=None)
    if not ids:
        raise NotFound("Session not found.")
    _record(unit, actor, actor.operator_id, ids, ip)


def end_other_sessions(unit: Unit, actor: OperatorActor, *, ip: str | None) -> int:
    """Sign out every device of one's own but this one; how many were signed out."""
    ids = _revoke(unit, actor.operator_id, only=None, keep=actor.session_id)
    _record(unit, actor, actor.operator_id, ids, ip)
    return len(ids)


def end_operator_session(
    unit: Unit, actor: OperatorActor, operator_id: str, session_id: str, *, ip: str | None
) -> None:
    """An admin signs one device of another operator out (NotFound if not theirs)."""
    access_sessions_of(unit.conn, actor, operator_id)
    ids = _revoke(unit, operator_id, only=session_id, keep=None)
    if not ids:
        raise NotFound("Session not found.")
    _record(unit, actor, operator_id, ids, ip)


def end_operator_sessions(
    unit: Unit, actor: OperatorActor, operator_id: str, *, ip: str | None
) -> int:
    """An admin signs every device of an operator out (their own: all but this one)."""
    access_sessions_of(unit.conn, actor, operator_id)
    keep = actor.session_id if operator_id == actor.operator_id else None
    ids = _revoke(unit, operator_id, only=None, keep=keep)
    _record(unit, actor, operator_id, ids, ip)
    return len(ids)
