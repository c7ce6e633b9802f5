"""Canned responses: saved replies an operator expands with ``/shortcut``."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from chatdesk.access import SETTINGS_ROLE, access_canned_response, require_role
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import canned_responses
from chatdesk.errors import Conflict
from chatdesk.ids import new_id
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import CannedResponse
from chatdesk.shapes import canned_response_shape

__all__ = ["create_canned_response", "delete_canned_response"]


def create_canned_response(
    unit: Unit, actor: OperatorActor, shortcut: str, body: str, ip: str | None = None
) -> CannedResponse:
    require_role(actor, SETTINGS_ROLE)
    taken = unit.conn.execute(
        select(canned_responses.c.id).where(canned_responses.c.shortcut == shortcut)
    ).first()
    if taken:
        raise Conflict("This shortcut is already used.", {"field": "shortcut"})
    canned_id = new_id()
    unit.conn.execute(
        insert(canned_responses).values(
            id=canned_id,
            shortcut=shortcut,
            body=body,
            created_by=actor.operator_id,
            created_at=unit.now,
        )
    )
    record(
        unit,
        "canned_response.create",
        operator_id=actor.operator_id,
        target_type="canned_response",
        target_id=canned_id,
        ip=ip,
    )
    row = unit.conn.execute(select(canned_responses).where(canned_responses.c.id == canned_id))
    return canned_response_shape(row.one())


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
