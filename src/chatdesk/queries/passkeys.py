"""Passkeys (ADR 0030): an operator's own list, and the passkey a sign-in names."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from chatdesk.clock import aware, iso
from chatdesk.db.tables import operator_passkeys, operators
from chatdesk.shape_types import Passkey

__all__ = ["PasskeyKey", "credential_ids_of", "own_passkeys", "passkey_by_credential", "shape"]


def shape(row: object) -> Passkey:
    last = row.last_used_at  # type: ignore[attr-defined]
    return {
        "id": row.id,  # type: ignore[attr-defined]
        "name": row.name,  # type: ignore[attr-defined]
        "created_at": iso(aware(row.created_at)),  # type: ignore[attr-defined]
        "last_used_at": iso(aware(last)) if last is not None else None,
    }


def own_passkeys(conn: Connection, operator_id: str) -> list[Passkey]:
    """The operator's passkeys, oldest first."""
    rows = conn.execute(
        select(operator_passkeys)
        .where(operator_passkeys.c.operator_id == operator_id)
        .order_by(operator_passkeys.c.created_at, operator_passkeys.c.id)
    )
    return [shape(row) for row in rows]


def credential_ids_of(conn: Connection, operator_id: str) -> list[str]:
    """The credential ids the operator registered (an authenticator holds one each)."""
    rows = conn.execute(
        select(operator_passkeys.c.credential_id).where(
            operator_passkeys.c.operator_id == operator_id
        )
    )
    return list(rows.scalars())


@dataclass(frozen=True, slots=True)
class PasskeyKey:
    """What checking a sign-in needs: the key, the counter, and whose it is."""

    id: str
    operator_id: str
    public_key: str
    sign_count: int
    active: bool


def passkey_by_credential(conn: Connection, credential_id: str) -> PasskeyKey | None:
    row = conn.execute(
        select(
            operator_passkeys.c.id,
            operator_passkeys.c.operator_id,
            operator_passkeys.c.public_key,
            operator_passkeys.c.sign_count,
            operators.c.active,
        )
        .join(operators, operators.c.id == operator_passkeys.c.operator_id)
        .where(operator_passkeys.c.credential_id == credential_id)
    ).first()
    if row is None:
        return None
    return PasskeyKey(row.id, row.operator_id, row.public_key, row.sign_count, bool(row.active))
