"""Operators: the settings list, the team, one's own profile, and sign-in lookups."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, exists, or_, select

from chatdesk.db.tables import operator_sessions, operators, site_operators
from chatdesk.queries.totp import totp_state
from chatdesk.shape_types import Face, Operator, TeamMember
from chatdesk.shapes import face_shape, operator_shape, team_member_shape

__all__ = [
    "answering",
    "avatar_of",
    "away_operator_ids",
    "list_operators",
    "online_faces",
    "operator_by_email",
    "operator_profile",
    "operator_site_ids",
    "password_hash_of",
    "signed_in_from",
    "team",
]


def operator_site_ids(conn: Connection, operator_id: str) -> list[str]:
    """The sites an operator belongs to, sorted."""
    return sorted(
        conn.execute(
            select(site_operators.c.site_id).where(site_operators.c.operator_id == operator_id)
        ).scalars()
    )


def operator_profile(conn: Connection, operator_id: str) -> Operator:
    """One operator with their sites, email notification choices and whether two-factor
    sign-in is on (their own profile)."""
    row = conn.execute(select(operators).where(operators.c.id == operator_id)).one()
    shape = operator_shape(row, operator_site_ids(conn, operator_id))
    shape["notifications"] = {
        "unanswered_minutes": row.notify_unanswered_minutes,
        "mentions": bool(row.notify_mentions),
    }
    shape["totp_enabled"] = totp_state(conn, operator_id).enabled
    return shape


def list_operators(conn: Connection) -> list[Operator]:
    """Every operator with their sites, oldest first (the settings list)."""
    rows = conn.execute(select(operators).order_by(operators.c.created_at)).all()
    return [operator_shape(row, operator_site_ids(conn, row.id)) for row in rows]


def team(conn: Connection, site_id: str | None = None) -> list[TeamMember]:
    """Active operators by name: whom a conversation can be assigned to; with
    ``site_id``, only those who answer that site (its agents, admins and owners)."""
    query: Select[Any] = (
        select(
            operators.c.id,
            operators.c.name,
            operators.c.role,
            operators.c.away,
            operators.c.active,
            operators.c.avatar,
        )
        .where(operators.c.active.is_(True))
        .order_by(operators.c.name)
    )
    if site_id is not None:
        member = select(site_operators.c.operator_id).where(site_operators.c.site_id == site_id)
        query = query.where(
            or_(operators.c.role.in_(("owner", "admin")), operators.c.id.in_(member))
        )
    return [team_member_shape(row) for row in conn.execute(query).all()]


def operator_by_email(conn: Connection, email: str) -> Row[Any] | None:
    """The operator signing in with ``email`` (already lower-cased), active or not."""
    return conn.execute(select(operators).where(operators.c.email == email)).first()


def password_hash_of(conn: Connection, operator_id: str) -> str:
    hashed: str = conn.execute(
        select(operators.c.password_hash).where(operators.c.id == operator_id)
    ).scalar_one()
    return hashed


def signed_in_from(conn: Connection, email: str, ip: str, since: datetime) -> bool:
    """Whether the operator with ``email`` signed in successfully from ``ip`` since
    ``since`` (every sign-in leaves a session row with its address)."""
    found = conn.execute(
        select(operator_sessions.c.id)
        .join(operators, operators.c.id == operator_sessions.c.operator_id)
        .where(
            operators.c.email == email,
            operator_sessions.c.ip == ip,
            operator_sessions.c.created_at >= since,
        )
        .limit(1)
    ).first()
    return found is not None


def away_operator_ids(conn: Connection) -> list[str]:
    """Active operators who chose Away."""
    query = select(operators.c.id).where(operators.c.away.is_(True), operators.c.active.is_(True))
    return list(conn.execute(query).scalars())


def answering(conn: Connection, site_id: str, connected: Collection[str]) -> bool:
    """Whether one of ``connected`` (operators with a console open) answers ``site_id``
    and is online: active, not away, and an admin or owner or one of the site's agents."""
    if not connected:
        return False
    member = exists().where(
        site_operators.c.site_id == site_id, site_operators.c.operator_id == operators.c.id
    )
    query = (
        select(operators.c.id)
        .where(
            operators.c.id.in_(sorted(connected)),
            operators.c.active.is_(True),
            operators.c.away.is_(False),
            or_(operators.c.role.in_(("owner", "admin")), member),
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None


def online_faces(conn: Connection, site_id: str, connected: Collection[str]) -> list[Face]:
    """Up to three operators online for ``site_id`` (as :func:`answering` counts them),
    by name: the faces the widget's header shows."""
    if not connected:
        return []
    member = exists().where(
        site_operators.c.site_id == site_id, site_operators.c.operator_id == operators.c.id
    )
    query: Select[Any] = (
        select(operators.c.id, operators.c.name, operators.c.avatar)
        .where(
            operators.c.id.in_(sorted(connected)),
            operators.c.active.is_(True),
            operators.c.away.is_(False),
            or_(operators.c.role.in_(("owner", "admin")), member),
        )
        .order_by(operators.c.name, operators.c.id)
        .limit(3)
    )
    return [face_shape(row) for row in conn.execute(query).all()]


def avatar_of(conn: Connection, operator_id: str) -> Row[Any] | None:
    """An active operator's id, name and picture version (whose face ``/avatars`` serves)."""
    query: Select[Any] = select(operators.c.id, operators.c.name, operators.c.avatar).where(
        operators.c.id == operator_id, operators.c.active.is_(True)
    )
    return conn.execute(query).first()
