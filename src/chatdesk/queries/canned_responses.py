"""Canned responses, for the composer's ``/shortcut`` menu and settings."""

from __future__ import annotations

from sqlalchemy import Connection, or_, select

from chatdesk.db.tables import canned_responses
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import CannedResponse
from chatdesk.shapes import canned_response_shape

__all__ = ["list_canned_responses"]


def list_canned_responses(conn: Connection, actor: OperatorActor) -> list[CannedResponse]:
    """The global responses and those of ``actor``'s sites, by shortcut, a global one
    before a site's of the same shortcut.

    The same rule as :func:`chatdesk.access.may_use_canned_response`, as a query."""
    query = select(canned_responses)
    site_ids = actor.site_ids
    if site_ids is not None:
        query = query.where(
            or_(
                canned_responses.c.site_id.is_(None),
                canned_responses.c.site_id.in_(sorted(site_ids)),
            )
        )
    query = query.order_by(
        canned_responses.c.shortcut,
        canned_responses.c.site_id.is_not(None),
        canned_responses.c.site_id,
    )
    return [canned_response_shape(row) for row in conn.execute(query).all()]
