"""Changing organisation-wide settings (ADR 0030): owners only, audit-logged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from chatdesk.access import require_role
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_totp, org_settings
from chatdesk.errors import Conflict
from chatdesk.security.principals import OperatorActor

__all__ = ["change_security_policy"]


def _put(unit: Unit, key: str, value: Any) -> None:
    found = unit.conn.execute(select(org_settings.c.key).where(org_settings.c.key == key)).first()
    if found is None:
        unit.conn.execute(insert(org_settings).values(key=key, value=value, updated_at=unit.now))
    else:
        unit.conn.execute(
            update(org_settings)
            .where(org_settings.c.key == key)
            .values(value=value, updated_at=unit.now)
        )


def _has_totp(unit: Unit, operator_id: str) -> bool:
    secret = unit.conn.execute(
        select(operator_totp.c.secret).where(operator_totp.c.operator_id == operator_id)
    ).scalar()
    return secret is not None


def change_security_policy(
    unit: Unit, actor: OperatorActor, changes: dict[str, Any], *, ip: str | None
) -> None:
    """Set the sign-in rules in ``changes`` (``require_totp``); owners only. A rule takes
    effect at every operator's next request: sessions read it with themselves."""
    require_role(actor, "owner")
    if changes.get("require_totp") is True and not _has_totp(unit, actor.operator_id):
        # Else the owner's own session would be held back at once, with everyone's.
        raise Conflict(
            "Turn on your own two-factor authentication first: the rule holds for owners too."
        )
    for key, value in changes.items():
        _put(unit, key, value)
    if changes:
        record(
            unit,
            "settings.security_policy",
            operator_id=actor.operator_id,
            target_type="organization",
            ip=ip,
            details=changes,
        )
