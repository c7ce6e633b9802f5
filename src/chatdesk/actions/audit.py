"""The append-only audit log of operator actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from chatdesk.db.batch import Unit
from chatdesk.db.tables import audit_log

__all__ = ["record"]


def record(
    unit: Unit,
    action: str,
    *,
    operator_id: str | None,
    target_type: str | None = None,
    target_id: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry in the same transaction as the change it describes."""
    unit.conn.execute(
        insert(audit_log).values(
            operator_id=operator_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip=ip,
            created_at=unit.now,
            details=details or {},
        )
    )
