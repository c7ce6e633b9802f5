"""What a password link email (``password_reset``, ``invitation``) would send now: read
when the job is sent, like every email (``queries/email.py``). A link used, expired or
replaced since it was queued, or an operator deactivated, sends nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from chatdesk.clock import aware
from chatdesk.db.tables import operator_tokens, operators

__all__ = ["ACCOUNT_TEMPLATES", "AccountPlan", "plan_account_email"]

ACCOUNT_TEMPLATES = ("password_reset", "invitation")
_PURPOSES = {"password_reset": "reset", "invitation": "invitation"}


@dataclass(frozen=True)
class AccountPlan:
    """One password link email: to whom, for which link row, until when it works."""

    template: str
    to_address: str
    to_name: str
    token_id: str
    expires_at: datetime
    inviter: str | None = None


def plan_account_email(
    conn: Connection, payload: dict[str, Any], now: datetime
) -> tuple[AccountPlan | None, str]:
    """(plan, "") for a link email to send now, or (None, why nothing is sent)."""
    template = str(payload.get("template"))
    token_id = payload.get("token_id")
    if template not in ACCOUNT_TEMPLATES or not isinstance(token_id, str):
        return None, f"unknown email job {template!r}"
    row = conn.execute(
        select(
            operator_tokens.c.purpose,
            operator_tokens.c.expires_at,
            operator_tokens.c.used_at,
            operators.c.email,
            operators.c.name,
            operators.c.active,
        )
        .join(operators, operators.c.id == operator_tokens.c.operator_id)
        .where(operator_tokens.c.id == token_id)
    ).first()
    if row is None or row.purpose != _PURPOSES[template]:
        return None, "the link is gone"
    expires_at = aware(row.expires_at)
    if row.used_at is not None or expires_at <= now:
        return None, "the link was used, replaced or expired"
    if not row.active:
        return None, "the operator is deactivated"
    inviter = payload.get("inviter")
    return AccountPlan(
        template=template,
        to_address=row.email,
        to_name=row.name,
        token_id=token_id,
        expires_at=expires_at,
        inviter=inviter if isinstance(inviter, str) else None,
    ), ""
