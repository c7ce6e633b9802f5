"""Single-use links to set a password (ADR 0023): a reset an operator asks for by
email, and the invitation a new operator without a password gets.

A link is a row of ``operator_tokens`` (its purpose, when it expires, when it was
used) and an email job naming the row; the token itself is never stored (see
``security/operator_links.py``). Using a link sets the password, ends every session
of the operator, and uses up their other links.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update

from chatdesk.actions.audit import record
from chatdesk.actions.email import queue_email
from chatdesk.actions.operators import create_operator, revoke_sessions
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_tokens, operators
from chatdesk.errors import TokenInvalid
from chatdesk.ids import new_id
from chatdesk.security.operator_links import link_token_hash
from chatdesk.security.passwords import NO_PASSWORD
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import Operator

__all__ = [
    "LINK_PURPOSES",
    "invite_operator",
    "issue_link",
    "request_password_reset",
    "use_link",
]

_log = logging.getLogger("chatdesk.email")
# Purpose -> the email template that carries the link.
LINK_PURPOSES = {"reset": "password_reset", "invitation": "invitation"}


def issue_link(
    unit: Unit,
    operator_id: str,
    purpose: str,
    *,
    hours: int,
    secret: str,
    email: bool,
    inviter: str | None = None,
) -> str:
    """A new link for ``operator_id`` (their earlier unused links of the same purpose
    stop working), emailed when ``email`` (chatdesk sends email); its row id. The job
    names the row, the address (for the admins' email list) and who invited them."""
    unit.conn.execute(
        update(operator_tokens)
        .where(
            operator_tokens.c.operator_id == operator_id,
            operator_tokens.c.purpose == purpose,
            operator_tokens.c.used_at.is_(None),
        )
        .values(used_at=unit.now)
    )
    token_id = new_id()
    unit.conn.execute(
        insert(operator_tokens).values(
            id=token_id,
            operator_id=operator_id,
            purpose=purpose,
            token_hash=link_token_hash(secret, token_id),
            created_at=unit.now,
            expires_at=unit.now + timedelta(hours=hours),
        )
    )
    if email:
        to = unit.conn.execute(
            select(operators.c.email).where(operators.c.id == operator_id)
        ).scalar_one()
        payload = {"template": LINK_PURPOSES[purpose], "token_id": token_id, "to": to}
        if inviter:
            payload["inviter"] = inviter
        queue_email(unit, payload)
    return token_id


def request_password_reset(
    unit: Unit, email: str, *, hours: int, secret: str, email_on: bool, ip: str | None
) -> None:
    """Someone asks for a reset link for ``email``. An active operator's gets one (by
    email, when chatdesk sends email); an unknown address gets nothing. Either way the
    request is audit-logged and the caller answers the same."""
    email = email.strip().lower()
    row = unit.conn.execute(
        select(operators.c.id).where(operators.c.email == email, operators.c.active.is_(True))
    ).first()
    if row is not None:
        issue_link(unit, row.id, "reset", hours=hours, secret=secret, email=email_on)
        if not email_on:
            _log.warning(
                "password reset asked for %s: no email sent (no CHATDESK_SMTP_URL)", row.id
            )
    record(
        unit,
        "auth.password_reset_request",
        operator_id=None,
        target_type="operator" if row is not None else None,
        target_id=row.id if row is not None else None,
        ip=ip,
        details={"email": email[:320], "known": row is not None, "emailed": email_on},
    )


def use_link(unit: Unit, token_hash: str, password_hash: str, *, ip: str | None) -> str:
    """Set the password of the link's operator; every session of theirs ends and the
    link is used up. A link that is unknown, used, expired or of an inactive operator
    is refused with the same 400 ``token_invalid``. Returns the operator's id."""
    row = unit.conn.execute(
        select(operator_tokens.c.id, operator_tokens.c.operator_id, operator_tokens.c.purpose)
        .join(operators, operators.c.id == operator_tokens.c.operator_id)
        .where(
            operator_tokens.c.token_hash == token_hash,
            operator_tokens.c.used_at.is_(None),
            operator_tokens.c.expires_at > unit.now,
            operators.c.active.is_(True),
        )
    ).first()
    if row is None:
        raise TokenInvalid()
    used = unit.conn.execute(
        update(operator_tokens)
        .where(operator_tokens.c.id == row.id, operator_tokens.c.used_at.is_(None))
        .values(used_at=unit.now)
    )
    if used.rowcount != 1:
        raise TokenInvalid()
    # Every other link of theirs is used up too: the password is theirs now.
    unit.conn.execute(
        update(operator_tokens)
        .where(
            operator_tokens.c.operator_id == row.operator_id,
            operator_tokens.c.used_at.is_(None),
        )
        .values(used_at=unit.now)
    )
    unit.conn.execute(
        update(operators)
        .where(operators.c.id == row.operator_id)
        .values(password_hash=password_hash, must_change_password=False, updated_at=unit.now)
    )
    revoke_sessions(unit, row.operator_id)
    action = "auth.password_reset" if row.purpose == "reset" else "auth.invitation_accepted"
    record(
        unit,
        action,
        operator_id=row.operator_id,
        target_type="operator",
        target_id=row.operator_id,
        ip=ip,
    )
    return str(row.operator_id)


def invite_operator(
    unit: Unit,
    actor: OperatorActor,
    fields: dict[str, Any],
    *,
    hours: int,
    secret: str,
    email_on: bool,
    ip: str | None = None,
) -> Operator:
    """A new operator without a password (they cannot sign in yet) and their invitation
    link, emailed when chatdesk sends email: ``invitation`` says whether it was."""
    operator = create_operator(unit, actor, password_hash=NO_PASSWORD, ip=ip, **fields)
    issue_link(
        unit,
        operator["id"],
        "invitation",
        hours=hours,
        secret=secret,
        email=email_on,
        inviter=actor.name,
    )
    if not email_on:
        _log.warning("operator %s invited: no email sent (no CHATDESK_SMTP_URL)", operator["id"])
    operator["invitation"] = "sent" if email_on else "not_sent"
    return operator
