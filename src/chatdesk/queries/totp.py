"""Two-factor sign-in state of an operator (ADR 0022): read at sign-in and on Account."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from chatdesk.db.tables import operator_totp

__all__ = ["TotpState", "totp_state"]


@dataclass(frozen=True, slots=True)
class TotpState:
    """The sealed secrets (never shown) and the last step a code was accepted for."""

    secret: str | None
    pending_secret: str | None
    last_step: int | None

    @property
    def enabled(self) -> bool:
        return self.secret is not None


def totp_state(conn: Connection, operator_id: str) -> TotpState:
    """The operator's two-factor state; all empty when they never set it up."""
    row = conn.execute(
        select(
            operator_totp.c.secret, operator_totp.c.pending_secret, operator_totp.c.last_step
        ).where(operator_totp.c.operator_id == operator_id)
    ).first()
    if row is None:
        return TotpState(None, None, None)
    return TotpState(row.secret, row.pending_secret, row.last_step)
