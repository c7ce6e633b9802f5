"""What the full-text index adds to the schema beside db/tables.py (ADR 0025).

The index is kept by the database itself (SQLite: FTS5 tables and triggers; PostgreSQL:
``search_vector`` columns, a trigger and GIN indexes), built by migration 0016. None of
it is declared in ``metadata``: the tables' rows are written by triggers only, and the
columns exist on PostgreSQL alone. Schema comparisons skip these names.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SEARCH_COLUMN", "include_name", "is_search_object"]

SEARCH_COLUMN = "search_vector"
_FTS_TABLES = ("messages_fts", "visitors_fts")
_INDEXES = ("ix_messages_search", "ix_visitors_search")


def is_search_object(name: str | None, type_: str) -> bool:
    """True for a name the full-text index owns (FTS5 tables and their shadow tables, the
    search columns and their indexes)."""
    if name is None:
        return False
    if type_ == "table":
        return name.startswith(_FTS_TABLES)
    if type_ == "column":
        return name == SEARCH_COLUMN
    if type_ == "index":
        return name in _INDEXES
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: leave the full-text index out of comparisons."""
    return not is_search_object(name, type_)
