"""full-text search: SQLite indexes a transaction's new messages once, as it commits
(ADR 0031); PostgreSQL keeps finer statistics of the search columns, so a rare word's
matches are estimated as few.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# PostgreSQL's default (100) keeps the 1,000 most common words of each column; a word
# not among them is estimated at half the rarest one's share, which at a million
# messages is a thousand rows, and a plan built for a thousand (a hash join over every
# conversation) where a rare word has ten. Ten times the sample keeps 10,000 words.
_PG_STATISTICS = 1000

# SQLite: the insert trigger notes the new row; the engine's commit hook indexes the
# noted rows in one statement (db/search_index.py). A row noted and then deleted or
# changed in the same transaction is not in the index yet: nothing to take out of it.
_SQLITE_UP = [
    "CREATE TABLE messages_fts_pending (id INTEGER PRIMARY KEY)",
    "DROP TRIGGER messages_fts_insert",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_update",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts_pending(id) VALUES (new.rowid); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, body) "
    "SELECT 'delete', old.rowid, old.body "
    "WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.rowid); "
    "DELETE FROM messages_fts_pending WHERE id = old.rowid; END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, body) "
    "SELECT 'delete', old.rowid, old.body "
    "WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE id = old.rowid); "
    "INSERT OR IGNORE INTO messages_fts_pending(id) VALUES (new.rowid); END",
]
# 0016's triggers, which index each row as it is written.
_SQLITE_DOWN = [
    "DROP TRIGGER messages_fts_insert",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_update",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, body) VALUES (new.rowid, new.body); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body); "
    "END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body); "
    "INSERT INTO messages_fts(rowid, body) VALUES (new.rowid, new.body); END",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("messages", "visitors"):
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN search_vector SET STATISTICS {_PG_STATISTICS}"
            )
            op.execute(f"ANALYZE {table} (search_vector)")
        return
    for statement in _SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("messages", "visitors"):
            op.execute(f"ALTER TABLE {table} ALTER COLUMN search_vector SET STATISTICS -1")
        return
    op.execute(
        "INSERT INTO messages_fts(rowid, body) SELECT m.rowid, m.body "
        "FROM messages_fts_pending AS p JOIN messages AS m ON m.rowid = p.id"
    )
    for statement in _SQLITE_DOWN:
        op.execute(statement)
    op.execute("DROP TABLE messages_fts_pending")
