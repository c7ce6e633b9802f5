"""Passkeys (ADR 0030): their single-use challenges, adding, renaming and removing one,
and recording a sign-in with one. Every change is audit-logged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from chatdesk.actions.audit import record
from chatdesk.clock import aware
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_passkeys, webauthn_challenges
from chatdesk.errors import Conflict, NotFound
from chatdesk.ids import new_id
from chatdesk.queries.passkeys import shape
from chatdesk.security.passkeys import NewPasskey
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import Passkey

__all__ = [
    "add_passkey",
    "issue_challenge",
    "passkey_used",
    "remove_passkey",
    "rename_passkey",
    "take_challenge",
]

CHALLENGE_LIFETIME = timedelta(minutes=5)
MAX_PASSKEYS = 20


def issue_challenge(unit: Unit, challenge_hash: str, purpose: str, operator_id: str | None) -> None:
    """Remember a challenge for one ceremony (and forget the expired ones)."""
    unit.conn.execute(
        delete(webauthn_challenges).where(webauthn_challenges.c.expires_at <= unit.now)
    )
    unit.conn.execute(
        insert(webauthn_challenges).values(
            challenge_hash=challenge_hash,
            purpose=purpose,
            operator_id=operator_id,
            expires_at=unit.now + CHALLENGE_LIFETIME,
        )
    )


def take_challenge(unit: Unit, challenge_hash: str, purpose: str, operator_id: str | None) -> bool:
    """Use up a challenge: True if it was issued for this ceremony (and operator) and
    has not expired. Whatever the answer, it cannot be used again."""
    row = unit.conn.execute(
        select(webauthn_challenges).where(webauthn_challenges.c.challenge_hash == challenge_hash)
    ).first()
    if row is None:
        return False
    gone = unit.conn.execute(
        delete(webauthn_challenges).where(webauthn_challenges.c.challenge_hash == challenge_hash)
    )
    return (
        gone.rowcount == 1
        and row.purpose == purpose
        and row.operator_id == operator_id
        and aware(row.expires_at) > unit.now
    )


def _own(unit: Unit, actor: OperatorActor, passkey_id: str) -> Row[Any]:
    """One of the actor's own passkeys; "not yours" and "not there" alike: NotFound."""
    row = unit.conn.execute(
        select(operator_passkeys).where(
            operator_passkeys.c.id == passkey_id,
            operator_passkeys.c.operator_id == actor.operator_id,
        )
    ).first()
    if row is None:
        raise NotFound("Passkey not found.")
    return row


def add_passkey(
    unit: Unit, actor: OperatorActor, passkey: NewPasskey, name: str, *, ip: str | None
) -> Passkey:
    count = len(
        unit.conn.execute(
            select(operator_passkeys.c.id).where(
                operator_passkeys.c.operator_id == actor.operator_id
            )
        ).all()
    )
    if count >= MAX_PASSKEYS:
        raise Conflict(f"You have {MAX_PASSKEYS} passkeys already; remove one first.")
    taken = unit.conn.execute(
        select(operator_passkeys.c.id).where(
            operator_passkeys.c.credential_id == passkey.credential_id
        )
    ).first()
    if taken is not None:
        raise Conflict("This passkey is registered already.")
    passkey_id = new_id()
    unit.conn.execute(
        insert(operator_passkeys).values(
            id=passkey_id,
            operator_id=actor.operator_id,
            credential_id=passkey.credential_id,
            public_key=passkey.public_key,
            sign_count=passkey.sign_count,
            transports=passkey.transports,
            name=name,
            created_at=unit.now,
            last_used_at=None,
        )
    )
    record(
        unit,
        "auth.passkey_add",
        operator_id=actor.operator_id,
        target_type="passkey",
        target_id=passkey_id,
        ip=ip,
        details={"name": name},
    )
    return shape(_own(unit, actor, passkey_id))


def rename_passkey(unit: Unit, actor: OperatorActor, passkey_id: str, name: str) -> Passkey:
    _own(unit, actor, passkey_id)
    unit.conn.execute(
        update(operator_passkeys).where(operator_passkeys.c.id == passkey_id).values(name=name)
    )
    return shape(_own(unit, actor, passkey_id))


def remove_passkey(unit: Unit, actor: OperatorActor, passkey_id: str, *, ip: str | None) -> None:
    row = _own(unit, actor, passkey_id)
    unit.conn.execute(delete(operator_passkeys).where(operator_passkeys.c.id == passkey_id))
    record(
        unit,
        "auth.passkey_remove",
        operator_id=actor.operator_id,
        target_type="passkey",
        target_id=passkey_id,
        ip=ip,
        details={"name": row.name},
    )


def passkey_used(unit: Unit, passkey_id: str, old_count: int, new_count: int) -> bool:
    """Record a sign-in's counter; False when another sign-in moved it first (of two
    answers with one counter value, one wins)."""
    moved = unit.conn.execute(
        update(operator_passkeys)
        .where(operator_passkeys.c.id == passkey_id, operator_passkeys.c.sign_count == old_count)
        .values(sign_count=new_count, last_used_at=unit.now)
    )
    return moved.rowcount == 1
