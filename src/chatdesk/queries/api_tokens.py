"""API tokens as settings lists them: never their secrets, which are shown once."""

from __future__ import annotations

from sqlalchemy import Connection, select

from chatdesk.db.tables import api_tokens
from chatdesk.shape_types import ApiToken
from chatdesk.shapes import api_token_shape

__all__ = ["list_api_tokens"]


def list_api_tokens(conn: Connection) -> list[ApiToken]:
    """Tokens not revoked, oldest first."""
    rows = conn.execute(
        select(api_tokens)
        .where(api_tokens.c.revoked_at.is_(None))
        .order_by(api_tokens.c.created_at)
    ).all()
    return [api_token_shape(row) for row in rows]
