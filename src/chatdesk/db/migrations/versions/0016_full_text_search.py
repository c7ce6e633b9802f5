"""full-text search: SQLite FTS5 tables over messages and visitors kept by triggers;
PostgreSQL tsvector columns (messages by a trigger in the site's language, visitors
generated) with GIN indexes. Existing rows are indexed in batches, with progress.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 17:10:00.000000
"""

from __future__ import annotations

import sys
import time

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BATCH = 50_000
# Tables smaller than this are indexed without a word on the terminal.
_QUIET_BELOW = 100_000

# A site's language tag (its first part) -> PostgreSQL's text search configuration;
# only those the server has are used, every other language gets "simple".
_PG_LANGUAGES = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nb": "norwegian",
    "nn": "norwegian",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}


def _progress(label: str, done: int, total: int, started: float) -> None:
    if total >= _QUIET_BELOW:
        elapsed = time.monotonic() - started
        print(f"  {label}: {done:,}/{total:,} ({elapsed:.1f} s)", file=sys.stderr, flush=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS messages_search ON messages")
        op.execute("DROP FUNCTION IF EXISTS chatdesk_messages_search()")
        op.execute("DROP INDEX IF EXISTS ix_messages_search")
        op.execute("DROP INDEX IF EXISTS ix_visitors_search")
        op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_vector")
        op.execute("ALTER TABLE visitors DROP COLUMN IF EXISTS search_vector")
        op.execute("DROP FUNCTION IF EXISTS chatdesk_search_config(text)")
        return
    for trigger in (
        "messages_fts_insert",
        "messages_fts_delete",
        "messages_fts_update",
        "visitors_fts_insert",
        "visitors_fts_delete",
        "visitors_fts_update",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS messages_fts")
    op.execute("DROP TABLE IF EXISTS visitors_fts")


# SQLite ----------------------------------------------------------------------------------

_SQLITE = [
    # External content: the index holds the words, the text stays in messages (rowids
    # join them). Porter stems English; unicode61 folds case and diacritics everywhere.
    "CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', "
    "content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, body) VALUES (new.rowid, new.body); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body); "
    "END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body); "
    "INSERT INTO messages_fts(rowid, body) VALUES (new.rowid, new.body); END",
    # Names and addresses are not English words: no stemming.
    "CREATE VIRTUAL TABLE visitors_fts USING fts5(name, email, content='visitors', "
    "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER visitors_fts_insert AFTER INSERT ON visitors BEGIN "
    "INSERT INTO visitors_fts(rowid, name, email) VALUES (new.rowid, new.name, new.email); END",
    "CREATE TRIGGER visitors_fts_delete AFTER DELETE ON visitors BEGIN "
    "INSERT INTO visitors_fts(visitors_fts, rowid, name, email) "
    "VALUES ('delete', old.rowid, old.name, old.email); END",
    "CREATE TRIGGER visitors_fts_update AFTER UPDATE OF name, email ON visitors BEGIN "
    "INSERT INTO visitors_fts(visitors_fts, rowid, name, email) "
    "VALUES ('delete', old.rowid, old.name, old.email); "
    "INSERT INTO visitors_fts(rowid, name, email) VALUES (new.rowid, new.name, new.email); END",
]


def _upgrade_sqlite() -> None:
    for statement in _SQLITE:
        op.execute(statement)
    conn = op.get_bind()
    for table, columns in (("messages", "body"), ("visitors", "name, email")):
        _fill_sqlite(conn, table, columns)
        # One merged index instead of a segment per batch: the first writes after the
        # migration would otherwise pay for the merging, a message at a time.
        op.execute(f"INSERT INTO {table}_fts({table}_fts) VALUES ('optimize')")  # noqa: S608


def _fill_sqlite(conn: sa.Connection, table: str, columns: str) -> None:
    """What FTS5's 'rebuild' does, in rowid batches so a large table shows progress."""
    # The names are this module's constants, never input.
    count = f"SELECT count(*) FROM {table}"  # noqa: S608
    edge = f"SELECT rowid FROM {table} WHERE rowid > :last ORDER BY rowid LIMIT 1 OFFSET :n"  # noqa: S608
    fill = f"INSERT INTO {table}_fts(rowid, {columns}) SELECT rowid, {columns} FROM {table} WHERE rowid > :last AND rowid <= :upto"  # noqa: S608, E501
    total = conn.execute(sa.text(count)).scalar_one()
    started, done, last = time.monotonic(), 0, -(2**63)
    while done < total:
        edge_rowid = conn.execute(sa.text(edge), {"last": last, "n": _BATCH - 1}).scalar()
        upto = edge_rowid if edge_rowid is not None else 2**63 - 1
        done += max(conn.execute(sa.text(fill), {"last": last, "upto": upto}).rowcount, 0)
        last = upto
        _progress(f"indexing {table}", min(done, total), total, started)
        if edge_rowid is None:
            break


# PostgreSQL ------------------------------------------------------------------------------


def _upgrade_postgresql() -> None:
    conn = op.get_bind()
    present = set(conn.execute(sa.text("SELECT cfgname FROM pg_ts_config")).scalars())
    cases = " ".join(
        f"WHEN '{tag}' THEN '{name}'" for tag, name in _PG_LANGUAGES.items() if name in present
    )
    # The configuration for a site's locale ("de-AT" -> german; "auto" -> simple).
    op.execute(
        "CREATE FUNCTION chatdesk_search_config(locale text) RETURNS regconfig "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (CASE "
        f"split_part(lower(coalesce(locale, '')), '-', 1) {cases} ELSE 'simple' END)::regconfig $$"
    )
    op.execute("ALTER TABLE messages ADD COLUMN search_vector tsvector")
    # In the same transaction as the message: its words in its site's language.
    op.execute(
        "CREATE FUNCTION chatdesk_messages_search() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN NEW.search_vector := to_tsvector(chatdesk_search_config(("
        "SELECT s.locale FROM conversations c JOIN sites s ON s.id = c.site_id "
        "WHERE c.id = NEW.conversation_id)), coalesce(NEW.body, '')); RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER messages_search BEFORE INSERT OR UPDATE OF body ON messages "
        "FOR EACH ROW EXECUTE FUNCTION chatdesk_messages_search()"
    )
    _fill_postgresql(conn)
    # New messages wait in GIN's pending list until it is merged into the index, and every
    # search reads that list in full: a small list (128 kB, a few hundred messages) keeps
    # searches fast, at the price of a merge every few hundred messages.
    op.execute(
        "CREATE INDEX ix_messages_search ON messages USING gin (search_vector) "
        "WITH (gin_pending_list_limit = 128)"
    )
    # Names and addresses, unstemmed; an address also by its parts ("ada", "example").
    op.execute(
        "ALTER TABLE visitors ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
        "to_tsvector('simple'::regconfig, coalesce(name, '') || ' ' || coalesce(email, '') "
        "|| ' ' || translate(coalesce(email, ''), '@.+_-', '     '))) STORED"
    )
    op.execute("CREATE INDEX ix_visitors_search ON visitors USING gin (search_vector)")


def _fill_postgresql(conn: sa.Connection) -> None:
    total = conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()
    started, done, last = time.monotonic(), 0, ""
    while True:
        upto = conn.execute(
            sa.text(
                "SELECT max(id) FROM (SELECT id FROM messages WHERE id > :last "
                "ORDER BY id LIMIT :n) batch"
            ),
            {"last": last, "n": _BATCH},
        ).scalar()
        if upto is None:
            break
        done += conn.execute(
            sa.text(
                "UPDATE messages m SET search_vector = to_tsvector("
                "chatdesk_search_config(s.locale), coalesce(m.body, '')) "
                "FROM conversations c JOIN sites s ON s.id = c.site_id "
                "WHERE c.id = m.conversation_id AND m.id > :last AND m.id <= :upto"
            ),
            {"last": last, "upto": upto},
        ).rowcount
        last = upto
        _progress("indexing messages", done, total, started)
