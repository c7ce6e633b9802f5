"""What the full-text index adds to the schema beside db/tables.py (ADR 0025).

The index is kept by the database itself (SQLite: FTS5 tables and triggers; PostgreSQL:
``search_vector`` columns, a trigger and GIN indexes), built by migration 0016. None of
it is declared in ``metadata``: the tables' rows are written by triggers only, and the
columns exist on PostgreSQL alone. Schema comparisons skip these names.

SQLite indexes a transaction's new messages as it commits (ADR 0031): FTS5 writes its
pending words to disk at every statement savepoint, and each INSERT that fires a trigger
opens one, so a trigger indexing each row wrote a new index segment per message. The
trigger only notes the row (``messages_fts_pending``); :func:`index_pending`, which the
engine runs before every commit that changed anything (db/engine.py), indexes the noted
rows in one statement, inside the same transaction.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["SEARCH_COLUMN", "include_name", "index_pending", "is_search_object"]

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


_INDEX_PENDING = (
    "INSERT INTO messages_fts(rowid, body) SELECT m.rowid, m.body "
    "FROM messages_fts_pending AS p JOIN messages AS m ON m.rowid = p.id"
)
_CLEAR_PENDING = "DELETE FROM messages_fts_pending"


def index_pending(dbapi_connection: sqlite3.Connection) -> None:
    """Index the messages this transaction wrote (SQLite; before it commits). Rows a
    writer without this hook left noted are indexed too, by the next write here."""
    before = dbapi_connection.total_changes
    try:
        dbapi_connection.execute(_INDEX_PENDING)
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return  # a database not migrated to 0019 yet (the migrations themselves)
        raise
    if dbapi_connection.total_changes != before:  # something was noted
        dbapi_connection.execute(_CLEAR_PENDING)
