"""The audit log, newest first, filtered and paged by id."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from chatdesk.db.tables import audit_log
from chatdesk.shape_types import AuditEntry
from chatdesk.shapes import audit_entry_shape

__all__ = ["AuditFilter", "audit_entries"]


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    operator_id: str | None = None
    before: int | None = None  # an entry id: only older entries
    limit: int = 50


def audit_entries(conn: Connection, flt: AuditFilter) -> list[AuditEntry]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(flt.limit)
    if flt.action:
        query = query.where(audit_log.c.action == flt.action)
    if flt.operator_id:
        query = query.where(audit_log.c.operator_id == flt.operator_id)
    if flt.before is not None:
        query = query.where(audit_log.c.id < flt.before)
    return [audit_entry_shape(row) for row in conn.execute(query).all()]
