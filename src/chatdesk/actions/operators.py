"""Operators: accounts, roles, site membership, and what changing them revokes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from chatdesk.access import SETTINGS_ROLE, access_operator, require_person, require_role
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import api_tokens, operator_sessions, operators, site_operators, sites
from chatdesk.errors import Conflict, Forbidden, ValidationFailed
from chatdesk.ids import new_id
from chatdesk.queries.operators import operator_site_ids
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import Operator
from chatdesk.shapes import operator_shape

__all__ = [
    "change_own_password",
    "create_operator",
    "reset_password",
    "revoke_sessions",
    "set_own_avatar",
    "update_operator",
    "update_own_profile",
]


def _check_can_grant(actor: OperatorActor | None, role: str) -> None:
    if actor is None:
        return
    require_role(actor, SETTINGS_ROLE)
    if role == "owner" and not actor.at_least("owner"):
        raise Forbidden("Only an owner can make another owner.")


def _set_sites(unit: Unit, operator_id: str, site_ids: list[str]) -> None:
    known = set(unit.conn.execute(select(sites.c.id).where(sites.c.id.in_(site_ids))).scalars())
    if known != set(site_ids):
        raise ValidationFailed("Unknown site id.", {"field": "site_ids"})
    unit.conn.execute(delete(site_operators).where(site_operators.c.operator_id == operator_id))
    if site_ids:
        unit.conn.execute(
            insert(site_operators),
            [{"site_id": s, "operator_id": operator_id} for s in sorted(set(site_ids))],
        )


def create_operator(
    unit: Unit,
    actor: OperatorActor | None,
    *,
    email: str,
    name: str,
    role: str,
    password_hash: str,
    site_ids: list[str] | None = None,
    max_open: int | None = None,
    ip: str | None = None,
) -> Operator:
    """A new operator; agents join ``site_ids`` (default: every site). Email is unique."""
    _check_can_grant(actor, role)
    email = email.strip().lower()
    if unit.conn.execute(select(operators.c.id).where(operators.c.email == email)).first():
        raise Conflict("An operator with this email already exists.", {"field": "email"})
    operator_id = new_id()
    unit.conn.execute(
        insert(operators).values(
            id=operator_id,
            email=email,
            name=name,
            role=role,
            password_hash=password_hash,
            active=True,
            max_open=max_open,
            created_at=unit.now,
            updated_at=unit.now,
        )
    )
    if site_ids is None:
        site_ids = list(unit.conn.execute(select(sites.c.id)).scalars())
    _set_sites(unit, operator_id, site_ids)
    record(
        unit,
        "operator.create",
        operator_id=actor.operator_id if actor else None,
        target_type="operator",
        target_id=operator_id,
        ip=ip,
        details={"email": email, "role": role},
    )
    row = unit.conn.execute(select(operators).where(operators.c.id == operator_id)).one()
    return operator_shape(row, operator_site_ids(unit.conn, operator_id))


def revoke_sessions(unit: Unit, operator_id: str, *, keep_session_id: str | None = None) -> None:
    """End the operator's sessions (all but ``keep_session_id``) and API tokens' access."""
    query = update(operator_sessions).where(
        operator_sessions.c.operator_id == operator_id, operator_sessions.c.revoked_at.is_(None)
    )
    if keep_session_id is not None:
        query = query.where(operator_sessions.c.id != keep_session_id)
    unit.conn.execute(query.values(revoked_at=unit.now))


def update_operator(
    unit: Unit,
    actor: OperatorActor,
    operator_id: str,
    fields: dict[str, Any],
    *,
    ip: str | None = None,
    temporary: bool = True,
) -> Operator:
    """Change name, role, active, password, sites or ``max_open``; role/active/password
    changes end sessions. A password set for someone else is ``temporary`` (they must
    choose their own at their next sign-in) unless told otherwise (the demo's)."""
    row = access_operator(unit.conn, actor, operator_id)
    if row.role == "owner" and not actor.at_least("owner"):
        raise Forbidden("Only an owner can change an owner.")
    if "role" in fields:
        _check_can_grant(actor, fields["role"])
    if operator_id == actor.operator_id and (
        fields.get("active") is False or fields.get("role", row.role) != row.role
    ):
        raise Conflict("You cannot deactivate yourself or change your own role.")
    site_ids = fields.pop("site_ids", None)
    if site_ids is not None:
        _set_sites(unit, operator_id, site_ids)
    values = {k: v for k, v in fields.items() if getattr(row, k) != v}
    if "password_hash" in values and operator_id != actor.operator_id and temporary:
        # A password an admin sets is temporary: the operator chooses their own next.
        values["must_change_password"] = True
    if values:
        unit.conn.execute(
            update(operators)
            .where(operators.c.id == operator_id)
            .values(updated_at=unit.now, **values)
        )
    if values.keys() & {"role", "active", "password_hash"}:
        revoke_sessions(unit, operator_id, keep_session_id=actor.session_id)
        if values.get("active") is False:
            unit.conn.execute(
                update(api_tokens)
                .where(api_tokens.c.operator_id == operator_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=unit.now)
            )
    if values or site_ids is not None:
        record(
            unit,
            "operator.update",
            operator_id=actor.operator_id,
            target_type="operator",
            target_id=operator_id,
            ip=ip,
            details={
                k: ("***" if k == "password_hash" else v)
                for k, v in {**values, **({"site_ids": site_ids} if site_ids else {})}.items()
            },
        )
    row = unit.conn.execute(select(operators).where(operators.c.id == operator_id)).one()
    return operator_shape(row, operator_site_ids(unit.conn, operator_id))


def reset_password(
    unit: Unit,
    actor: OperatorActor,
    operator_id: str,
    password_hash: str,
    *,
    ip: str | None = None,
) -> None:
    """Give another operator a temporary password (admins; an owner's only by an owner):
    their sessions end, and they must choose their own at their next sign-in."""
    row = access_operator(unit.conn, actor, operator_id)
    if row.role == "owner" and not actor.at_least("owner"):
        raise Forbidden("Only an owner can reset an owner's password.")
    if operator_id == actor.operator_id:
        raise Conflict("Change your own password from your account page.")
    unit.conn.execute(
        update(operators)
        .where(operators.c.id == operator_id)
        .values(password_hash=password_hash, must_change_password=True, updated_at=unit.now)
    )
    revoke_sessions(unit, operator_id)
    record(
        unit,
        "operator.password_reset",
        operator_id=actor.operator_id,
        target_type="operator",
        target_id=operator_id,
        ip=ip,
    )


def change_own_password(
    unit: Unit, actor: OperatorActor, password_hash: str, *, ip: str | None = None
) -> None:
    """Set the signed-in operator's password; every other session of theirs ends."""
    unit.conn.execute(
        update(operators)
        .where(operators.c.id == actor.operator_id)
        .values(password_hash=password_hash, must_change_password=False, updated_at=unit.now)
    )
    revoke_sessions(unit, actor.operator_id, keep_session_id=actor.session_id)
    record(
        unit,
        "operator.password_change",
        operator_id=actor.operator_id,
        target_type="operator",
        target_id=actor.operator_id,
        ip=ip,
    )


def update_own_profile(
    unit: Unit, actor: OperatorActor, changes: dict[str, Any], *, ip: str | None = None
) -> None:
    """The signed-in operator's own settings: ``name`` (what colleagues and visitors
    see; audit-logged), ``away`` (their presence choice) and email notifications,
    ``notify_unanswered_minutes`` (a conversation nobody answered within that many
    minutes; None turns it off) and ``notify_mentions``. A bot token has no account to
    set them on (403)."""
    require_person(actor, "Change your profile")
    allowed = {"name", "away", "notify_unanswered_minutes", "notify_mentions"}
    values = {k: v for k, v in changes.items() if k in allowed}
    if not values:
        return
    unit.conn.execute(
        update(operators)
        .where(operators.c.id == actor.operator_id)
        .values(updated_at=unit.now, **values)
    )
    if "name" in values and values["name"] != actor.name:
        record(
            unit,
            "operator.update",
            operator_id=actor.operator_id,
            target_type="operator",
            target_id=actor.operator_id,
            ip=ip,
            details={"name": values["name"]},
        )


def set_own_avatar(unit: Unit, actor: OperatorActor, version: str | None) -> str | None:
    """The signed-in operator's picture: ``version`` (the stored file's hash) or None for
    their initials again. Returns the version it replaced (whose file the caller may
    delete). A bot token has no face to set (403)."""
    require_person(actor, "Change your avatar")
    before: str | None = unit.conn.execute(
        select(operators.c.avatar).where(operators.c.id == actor.operator_id)
    ).scalar_one()
    unit.conn.execute(
        update(operators)
        .where(operators.c.id == actor.operator_id)
        .values(avatar=version, updated_at=unit.now)
    )
    return before
