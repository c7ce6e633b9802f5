"""A visitor's own profile, as the widget reads it."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatdesk.db.tables import visitors
from chatdesk.shape_types import VisitorProfile
from chatdesk.shapes import own_visitor_shape, visitor_shape

__all__ = ["own_profile", "visitor_name"]


def own_profile(conn: Connection, visitor_id: str) -> VisitorProfile:
    """What the widget shows a visitor of themselves: id, name, email."""
    row = conn.execute(select(visitors).where(visitors.c.id == visitor_id)).one()
    return own_visitor_shape(visitor_shape(row))


def visitor_name(conn: Connection, visitor_id: str) -> str | None:
    name: str | None = conn.execute(
        select(visitors.c.name).where(visitors.c.id == visitor_id)
    ).scalar()
    return name
