"""Canned responses: saved replies an operator expands with ``/shortcut``.

A response belongs to one site (its operators see it) or to every site (``site_id``
NULL). A shortcut is unique per site and among the global responses; a site's response
may share a global one's shortcut, and then replaces it in that site's conversations.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatdesk.access import SETTINGS_ROLE, access_canned_response, access_site, require_role
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import canned_responses
from chatdesk.errors import Conflict
from chatdesk.ids import new_id
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import CannedResponse
from chatdesk.shapes import canned_response_shape

__all__ = ["create_canned_response", "delete_canned_response", "update_canned_response"]

# Field names a PATCH may change.
EDITABLE = ("shortcut", "body", "site_id")


def create_canned_response(
    unit: Unit,
    actor: OperatorActor,
    shortcut: str,
    body: str,
    ip: str | None = None,
    *,
    site_id: str | None = None,
) -> CannedResponse:
    """Add a response for ``site_id`` (admins and owners), or for every site without one."""
    require_role(actor, SETTINGS_ROLE)
    if site_id is not None:
        access_site(unit.conn, actor, site_id, manage=True)
    _check_free(unit, shortcut, site_id)
    canned_id = new_id()
    _write(
        unit,
        insert(canned_responses).values(
            id=canned_id,
            shortcut=shortcut,
            body=body,
            site_id=site_id,
            created_by=actor.operator_id,
            created_at=unit.now,
        ),
    )
    record(
        unit,
        "canned_response.create",
        operator_id=actor.operator_id,
        target_type="canned_response",
        target_id=canned_id,
        ip=ip,
        details={"site_id": site_id} if site_id else None,
    )
    return _shape(unit, canned_id)


def update_canned_response(
    unit: Unit,
    actor: OperatorActor,
    canned_id: str,
    changes: dict[str, Any],
    ip: str | None = None,
) -> CannedResponse:
    """Change a response's ``shortcut``, ``body`` or ``site_id`` (admins and owners)."""
    row = access_canned_response(unit.conn, actor, canned_id)
    values = {k: v for k, v in changes.items() if k in EDITABLE and v != getattr(row, k)}
    if values.get("site_id") is not None:
        access_site(unit.conn, actor, values["site_id"], manage=True)
    if "shortcut" in values or "site_id" in values:
        site_id = values.get("site_id", row.site_id)
        _check_free(unit, values.get("shortcut", row.shortcut), site_id, other_than=canned_id)
    if values:
        values["updated_at"] = unit.now
        _write(
            unit,
            update(canned_responses).where(canned_responses.c.id == canned_id).values(values),
        )
        record(
            unit,
            "canned_response.update",
            operator_id=actor.operator_id,
            target_type="canned_response",
            target_id=canned_id,
            ip=ip,
            details={"fields": sorted(k for k in values if k != "updated_at")},
        )
    return _shape(unit, canned_id)


def delete_canned_response(
    unit: Unit, actor: OperatorActor, canned_id: str, ip: str | None = None
) -> None:
    access_canned_response(unit.conn, actor, canned_id)
    unit.conn.execute(delete(canned_responses).where(canned_responses.c.id == canned_id))
    record(
        unit,
        "canned_response.delete",
        operator_id=actor.operator_id,
        target_type="canned_response",
        target_id=canned_id,
        ip=ip,
    )


def _check_free(
    unit: Unit, shortcut: str, site_id: str | None, *, other_than: str | None = None
) -> None:
    """Conflict when ``shortcut`` is taken in the same scope (that site, or the global ones)."""
    scope = (
        canned_responses.c.site_id.is_(None)
        if site_id is None
        else canned_responses.c.site_id == site_id
    )
    query = select(canned_responses.c.id).where(canned_responses.c.shortcut == shortcut, scope)
    if other_than is not None:
        query = query.where(canned_responses.c.id != other_than)
    if unit.conn.execute(query).first():
        raise _taken(site_id)


def _taken(site_id: str | None) -> Conflict:
    where = "for this site" if site_id else "by another response for every site"
    return Conflict(f"This shortcut is already used {where}.", {"field": "shortcut"})


def _write(unit: Unit, statement: Any) -> None:
    # The check above answers first; a concurrent write of the same shortcut (PostgreSQL
    # runs units side by side) reaches the unique index and gets the same answer.
    try:
        unit.conn.execute(statement)
    except IntegrityError:
        raise Conflict("This shortcut is already used.", {"field": "shortcut"}) from None


def _shape(unit: Unit, canned_id: str) -> CannedResponse:
    row = unit.conn.execute(select(canned_responses).where(canned_responses.c.id == canned_id))
    return canned_response_shape(row.one())
