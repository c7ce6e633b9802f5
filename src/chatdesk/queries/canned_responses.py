"""Canned responses, for the composer's ``/shortcut`` menu and settings."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatdesk.db.tables import canned_responses
from chatdesk.shape_types import CannedResponse
from chatdesk.shapes import canned_response_shape

__all__ = ["list_canned_responses"]


def list_canned_responses(conn: Connection) -> list[CannedResponse]:
    """Every canned response, by shortcut."""
    rows = conn.execute(select(canned_responses).order_by(canned_responses.c.shortcut)).all()
    return [canned_response_shape(row) for row in rows]
