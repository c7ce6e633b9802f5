"""Two-factor sign-in (ADR 0022): setting it up, turning it on and off, spending codes.

Secrets arrive here sealed (security/totp.py); nothing in this module sees one in
clear. Turning it on, off or resetting it, and every recovery code spent, is
audit-logged.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, func, insert, or_, select, update

from chatdesk.access import access_operator
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_recovery_codes, operator_totp, operators
from chatdesk.errors import Conflict, Forbidden
from chatdesk.ids import new_id
from chatdesk.security.principals import OperatorActor

__all__ = [
    "accept_totp_step",
    "admin_reset_totp",
    "begin_totp_setup",
    "disable_totp",
    "enable_totp",
    "reset_totp",
    "use_recovery_code",
]


def begin_totp_setup(unit: Unit, actor: OperatorActor, sealed_pending: str) -> None:
    """Keep a new secret as pending (a later setup replaces it); 409 while TOTP is on."""
    row = unit.conn.execute(
        select(operator_totp.c.secret).where(operator_totp.c.operator_id == actor.operator_id)
    ).first()
    if row is not None and row.secret is not None:
        raise Conflict("Two-factor authentication is already on; turn it off first.")
    if row is None:
        unit.conn.execute(
            insert(operator_totp).values(
                operator_id=actor.operator_id, pending_secret=sealed_pending, updated_at=unit.now
            )
        )
    else:
        unit.conn.execute(
            update(operator_totp)
            .where(operator_totp.c.operator_id == actor.operator_id)
            .values(pending_secret=sealed_pending, updated_at=unit.now)
        )


def enable_totp(
    unit: Unit,
    actor: OperatorActor,
    sealed_pending: str,
    step: int,
    code_hashes: list[str],
    *,
    ip: str | None = None,
) -> None:
    """Make the pending secret (the one whose code was checked) the active one, with
    ``step`` used, and replace the recovery codes. 409 if it changed meanwhile."""
    done = unit.conn.execute(
        update(operator_totp)
        .where(
            operator_totp.c.operator_id == actor.operator_id,
            operator_totp.c.pending_secret == sealed_pending,
            operator_totp.c.secret.is_(None),
        )
        .values(
            secret=sealed_pending,
            pending_secret=None,
            enabled_at=unit.now,
            last_step=step,
            updated_at=unit.now,
        )
    )
    if done.rowcount != 1:
        raise Conflict("Set up two-factor authentication again: this setup is no longer current.")
    _replace_recovery_codes(unit, actor.operator_id, code_hashes)
    record(
        unit,
        "auth.totp_enable",
        operator_id=actor.operator_id,
        target_type="operator",
        target_id=actor.operator_id,
        ip=ip,
    )


def _replace_recovery_codes(unit: Unit, operator_id: str, code_hashes: list[str]) -> None:
    unit.conn.execute(
        delete(operator_recovery_codes).where(operator_recovery_codes.c.operator_id == operator_id)
    )
    unit.conn.execute(
        insert(operator_recovery_codes),
        [
            {"id": new_id(), "operator_id": operator_id, "code_hash": h, "created_at": unit.now}
            for h in code_hashes
        ],
    )


def _turn_off(unit: Unit, operator_id: str) -> bool:
    """Forget the operator's secrets and recovery codes; whether TOTP was on."""
    was_on = unit.conn.execute(
        select(operator_totp.c.operator_id).where(
            operator_totp.c.operator_id == operator_id, operator_totp.c.secret.is_not(None)
        )
    ).first()
    unit.conn.execute(delete(operator_totp).where(operator_totp.c.operator_id == operator_id))
    unit.conn.execute(
        delete(operator_recovery_codes).where(operator_recovery_codes.c.operator_id == operator_id)
    )
    return was_on is not None


def disable_totp(unit: Unit, actor: OperatorActor, *, ip: str | None = None) -> None:
    """Turn the signed-in operator's two-factor sign-in off (the caller checked their
    password); a pending setup is dropped too. Nothing to turn off is not an error."""
    if _turn_off(unit, actor.operator_id):
        record(
            unit,
            "auth.totp_disable",
            operator_id=actor.operator_id,
            target_type="operator",
            target_id=actor.operator_id,
            ip=ip,
        )


def reset_totp(unit: Unit, email: str) -> bool | None:
    """``chatdesk totp-reset``: turn off the two-factor sign-in of the operator with
    ``email``. None for an unknown email, else whether it was on."""
    operator_id = unit.conn.execute(
        select(operators.c.id).where(operators.c.email == email.strip().lower())
    ).scalar()
    if operator_id is None:
        return None
    was_on = _turn_off(unit, operator_id)
    if was_on:
        record(
            unit,
            "auth.totp_reset",
            operator_id=None,
            target_type="operator",
            target_id=operator_id,
            details={"by": "command line"},
        )
    return was_on


def admin_reset_totp(
    unit: Unit, actor: OperatorActor, operator_id: str, *, ip: str | None = None
) -> None:
    """Turn off another operator's two-factor sign-in (they lost their phone and their
    recovery codes), from a signed-in session: admins for agents, owners for agents and
    admins. An owner's is reset only by ``chatdesk totp-reset`` on the server, so a
    stolen admin session cannot strip it; one's own is turned off under Account, with
    the password. Conflict when it was not on."""
    target = access_operator(unit.conn, actor, operator_id)
    if target.id == actor.operator_id:
        raise Forbidden("Turn your own off under Account, with your password.")
    if target.role == "owner":
        raise Forbidden(
            "An owner's second factor is reset only on the server: chatdesk totp-reset."
        )
    if target.role == "admin" and actor.role != "owner":
        raise Forbidden("Only an owner resets an admin's second factor.")
    if not _turn_off(unit, operator_id):
        raise Conflict("This operator has no two-factor sign-in on.")
    record(
        unit,
        "auth.totp_reset",
        operator_id=actor.operator_id,
        target_type="operator",
        target_id=operator_id,
        ip=ip,
        details={"by": "admin"},
    )


def accept_totp_step(unit: Unit, operator_id: str, step: int) -> bool:
    """Record ``step`` as used if it is later than the last one used; False for a
    replayed (or older) step. Atomic: of two sign-ins with one code, one wins."""
    done = unit.conn.execute(
        update(operator_totp)
        .where(
            operator_totp.c.operator_id == operator_id,
            operator_totp.c.secret.is_not(None),
            or_(operator_totp.c.last_step.is_(None), operator_totp.c.last_step < step),
        )
        .values(last_step=step, updated_at=unit.now)
    )
    return bool(done.rowcount == 1)


def use_recovery_code(unit: Unit, operator_id: str, code_hash: str, *, ip: str | None) -> bool:
    """Spend one of the operator's unused recovery codes; False if it is not one."""
    unused = and_(
        operator_recovery_codes.c.operator_id == operator_id,
        operator_recovery_codes.c.used_at.is_(None),
    )
    done = unit.conn.execute(
        update(operator_recovery_codes)
        .where(unused, operator_recovery_codes.c.code_hash == code_hash)
        .values(used_at=unit.now)
    )
    if done.rowcount != 1:
        return False
    left = unit.conn.execute(
        select(func.count()).select_from(operator_recovery_codes).where(unused)
    ).scalar_one()
    record(
        unit,
        "auth.recovery_code_used",
        operator_id=operator_id,
        target_type="operator",
        target_id=operator_id,
        ip=ip,
        details={"left": left},
    )
    return True
