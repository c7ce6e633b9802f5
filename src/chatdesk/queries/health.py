"""What readiness asks of the database: that it answers at all."""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["database_answers"]


def database_answers(conn: Connection) -> bool:
    """True when a trivial statement runs; raises when the database is unreachable."""
    return conn.execute(text("SELECT 1")).scalar() == 1
