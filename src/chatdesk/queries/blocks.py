"""Blocks of visitors as operators list them: those of the sites they belong to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from chatdesk.db.tables import visitor_blocks, visitors
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import Block
from chatdesk.shapes import block_shape

__all__ = ["block_row_query", "list_blocks"]

LIST_LIMIT = 500


def block_row_query() -> Any:
    """Blocks with their visitor's name (for lists and answers)."""
    return select(visitor_blocks, visitors.c.name.label("visitor_name")).outerjoin(
        visitors, visitors.c.id == visitor_blocks.c.visitor_id
    )


def list_blocks(
    conn: Connection,
    actor: OperatorActor,
    now: datetime,
    *,
    visitor_id: str | None = None,
    active_only: bool = True,
) -> list[Block]:
    """The blocks of ``actor``'s sites, newest first; only those in force unless asked."""
    query = block_row_query()
    if actor.site_ids is not None:
        query = query.where(visitor_blocks.c.site_id.in_(sorted(actor.site_ids)))
    if visitor_id is not None:
        query = query.where(visitor_blocks.c.visitor_id == visitor_id)
    if active_only:
        query = query.where(visitor_blocks.c.lifted_at.is_(None), visitor_blocks.c.expires_at > now)
    rows = conn.execute(
        query.order_by(visitor_blocks.c.created_at.desc(), visitor_blocks.c.id).limit(LIST_LIMIT)
    ).all()
    return [block_shape(row, now) for row in rows]
