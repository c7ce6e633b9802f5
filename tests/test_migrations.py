"""The migrations build exactly the schema db/tables.py declares, and carry data forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

import chatdesk.db.migrate
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import downgrade, upgrade
from chatdesk.db.search_index import include_name
from chatdesk.db.tables import metadata

SCRIPTS = Path(chatdesk.db.migrate.__file__).parent / "migrations"


def test_the_migrations_build_the_declared_schema(database_url: str) -> None:
    engine = make_engine(database_url, writer=True)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            # The full-text index (ADR 0025) lives beside the declared tables.
            context = MigrationContext.configure(conn, opts={"include_name": include_name})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_existing_visitor_tokens_count_as_last_used_when_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("sqlalchemy.url", url)
    engine = create_engine(url)
    made = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            add_site(conn, "s", made)
            conn.execute(
                text(
                    "INSERT INTO visitors (id, site_id, created_at, last_seen_at) "
                    "VALUES ('v', 's', :t, :t)"
                ),
                {"t": made},
            )
            conn.execute(
                text(
                    "INSERT INTO visitor_tokens (token_hash, visitor_id, created_at) "
                    "VALUES ('h', 'v', :t)"
                ),
                {"t": made},
            )
        upgrade(engine)
        with engine.connect() as conn:
            last_used = conn.execute(text("SELECT last_used_at FROM visitor_tokens")).scalar()
            protected = conn.execute(text("SELECT identity_replay_protection FROM sites")).scalar()
    finally:
        engine.dispose()
    assert str(last_used).startswith("2025-01-02 03:04:05")
    assert protected == 0


def add_site(conn: Connection, site_id: str, made: datetime) -> None:
    """A site row as revision 0001 made them (every later revision keeps it valid)."""
    conn.execute(
        text(
            "INSERT INTO sites (id, name, site_key, allowed_origins, greeting, "
            "accent_color, position, prechat_name, prechat_email, offline_message, "
            "enabled, identity_required, created_at, updated_at) VALUES (:id, 'S', "
            ":key, '[]', 'Hi', '#000000', 'right', 'off', 'off', '', :yes, :no, :t, :t)"
        ),
        {"id": site_id, "key": f"pk_{site_id}", "t": made, "yes": True, "no": False},
    )


def _add_canned(conn: Connection, canned_id: str, shortcut: str, site_id: str | None) -> None:
    conn.execute(
        text(
            "INSERT INTO canned_responses (id, shortcut, body, site_id, created_at) "
            "VALUES (:id, :shortcut, 'Hello', :site_id, :t)"
        ),
        {"id": canned_id, "shortcut": shortcut, "site_id": site_id, "t": datetime.now(UTC)},
    )


def test_canned_shortcuts_are_unique_per_site_and_among_global_ones(database_url: str) -> None:
    """The database itself holds the rule the actions check first (a write that races past
    the check meets the index): a partial index, which comparing the schema cannot see."""
    engine = make_engine(database_url, writer=True)
    try:
        upgrade(engine)
        with engine.connect() as conn, conn.begin() as outer:
            add_site(conn, "s1", datetime.now(UTC))
            add_site(conn, "s2", datetime.now(UTC))
            _add_canned(conn, "c1", "hi", None)
            _add_canned(conn, "c2", "hi", "s1")  # a site's may share a global shortcut
            _add_canned(conn, "c3", "hi", "s2")  # and another site's
            for canned_id, site_id in (("c4", None), ("c5", "s1")):
                with pytest.raises(IntegrityError), conn.begin_nested():
                    _add_canned(conn, canned_id, "hi", site_id)
            count = conn.execute(text("SELECT count(*) FROM canned_responses")).scalar()
            outer.rollback()
    finally:
        engine.dispose()
    assert count == 3


def test_existing_canned_responses_stay_global(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("sqlalchemy.url", url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
            conn.execute(
                text(
                    "INSERT INTO canned_responses (id, shortcut, body, created_at) "
                    "VALUES ('c', 'refund', 'Refunds take 5 days', :t)"
                ),
                {"t": datetime(2025, 1, 2, tzinfo=UTC)},
            )
        upgrade(engine)
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT shortcut, body, site_id, updated_at FROM canned_responses")
            ).one()
    finally:
        engine.dispose()
    assert tuple(row) == ("refund", "Refunds take 5 days", None, None)


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    (downgrade if down else upgrade)(engine, revision)


def test_report_timings_are_backfilled_and_the_migration_goes_both_ways(
    database_url: str,
) -> None:
    """0017 (ADR 0026) fills the timings of conversations made before it: the first public
    operator message, the timeline's last "resolved", the public messages, whether it
    started in its site's business hours; and downgrades cleanly."""
    engine = make_engine(database_url, writer=True)
    start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday, 08:00 in Paris
    hours = '{"timezone": "Europe/Paris", "days": {"mon": [["09:00", "17:00"]]}}'
    try:
        upgrade(engine)
        _migrate(engine, "0015", down=True)
        with engine.begin() as conn:
            add_site(conn, "s", start)
            conn.execute(text("UPDATE sites SET business_hours = :h"), {"h": hours})
            conn.execute(
                text(
                    "INSERT INTO visitors (id, site_id, created_at, last_seen_at) "
                    "VALUES ('v', 's', :t, :t)"
                ),
                {"t": start},
            )
            for cid, status, offset in (("c1", "resolved", 0), ("c2", "open", 7200)):
                at = start + timedelta(seconds=offset)
                conn.execute(
                    text(
                        "INSERT INTO conversations (id, site_id, visitor_id, status, "
                        "created_at, updated_at, last_message_at, last_message_preview, "
                        "last_message_author, unread_count) VALUES (:id, 's', 'v', :status, "
                        ":t, :u, :t, '', 'visitor', 0)"
                    ),
                    {"id": cid, "status": status, "t": at, "u": at + timedelta(hours=5)},
                )
            said = [
                ("m1", "c1", "visitor", False, None, None, 0),
                ("m2", "c1", "operator", True, None, None, 30),  # a note: no response
                ("m3", "c1", "operator", False, None, None, 95),
                ("m4", "c1", "system", True, "status", '{"status": "resolved"}', 600),
                ("m5", "c1", "operator", False, None, None, 700),
                ("m6", "c2", "visitor", False, None, None, 7200),
            ]
            for mid, cid, author, private, kind, data, offset in said:
                conn.execute(
                    text(
                        "INSERT INTO messages (id, conversation_id, author_type, body, private, "
                        "created_at, kind, data) VALUES (:id, :c, :a, 'x', :p, :t, :k, :d)"
                    ),
                    {
                        "id": mid,
                        "c": cid,
                        "a": author,
                        "p": private,
                        "t": start + timedelta(seconds=offset),
                        "k": kind,
                        "d": data,
                    },
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, first_response_seconds, resolution_seconds, message_count, "
                    "in_business_hours, resolved_at IS NOT NULL FROM conversations ORDER BY id"
                )
            ).all()
        _migrate(engine, "0015", down=True)
        upgrade(engine)
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("c1", 95, 600, 3, False, True),  # 08:00 Paris: before the site opens
        ("c2", None, None, 1, True, False),  # 10:00 Paris
    ]


def test_0018_passkeys_and_org_settings_go_down_and_up_again(database_url: str) -> None:
    """Migration 0018 (ADR 0030) is reversible: down to 0015 drops its three tables, and
    up again rebuilds the declared schema (on SQLite and, when configured, PostgreSQL)."""
    engine = make_engine(database_url, writer=True)
    new_tables = {"org_settings", "operator_passkeys", "webauthn_challenges"}
    try:
        upgrade(engine)
        downgrade(engine, "0015")
        with engine.connect() as conn:
            names = set(sa_inspect(conn).get_table_names())
        assert not new_tables & names and "operators" in names
        upgrade(engine)
        with engine.connect() as conn:
            assert new_tables <= set(sa_inspect(conn).get_table_names())
            context = MigrationContext.configure(conn, opts={"include_name": include_name})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def _search_objects(conn: Connection) -> set[str]:
    if conn.dialect.name == "postgresql":
        query = (
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE column_name = 'search_vector' UNION ALL SELECT indexname FROM pg_indexes "
            "WHERE indexname LIKE '%search%' UNION ALL SELECT tgname FROM pg_trigger "
            "WHERE tgname LIKE '%search%' UNION ALL SELECT proname FROM pg_proc "
            "WHERE proname LIKE 'chatdesk_%'"
        )
    else:
        query = "SELECT name FROM sqlite_master WHERE name LIKE '%fts%'"
    return set(conn.execute(text(query)).scalars())


def test_the_search_index_is_built_for_existing_data_and_taken_down(database_url: str) -> None:
    """0016 indexes what 0015 held (messages and visitors), the index answers, and a
    downgrade leaves 0015's schema and data as they were."""
    engine = make_engine(database_url, writer=True)
    made = datetime(2025, 1, 2, tzinfo=UTC)

    def to(revision: str, down: bool = False) -> None:
        _migrate(engine, revision, down=down)

    def matches(conn: Connection, word: str) -> tuple[int, int]:
        if conn.dialect.name == "postgresql":
            found = "SELECT count(*) FROM {} WHERE search_vector @@ plainto_tsquery('simple', :w)"
        else:
            found = "SELECT count(*) FROM {0}_fts WHERE {0}_fts MATCH :w"
        return (
            conn.execute(text(found.format("messages")), {"w": word}).scalar_one(),
            conn.execute(text(found.format("visitors")), {"w": word}).scalar_one(),
        )

    try:
        # The shared PostgreSQL test database is at head; a SQLite file starts empty.
        to("0015", down=engine.dialect.name == "postgresql")
        with engine.begin() as conn:
            add_site(conn, "s", made)
            conn.execute(
                text(
                    "INSERT INTO visitors (id, site_id, name, email, created_at, last_seen_at) "
                    "VALUES ('v', 's', 'Greta Garbo', 'greta@film.example', :t, :t)"
                ),
                {"t": made},
            )
            conn.execute(
                text(
                    "INSERT INTO conversations (id, site_id, visitor_id, status, created_at, "
                    "updated_at, last_message_at, last_message_preview, last_message_author, "
                    "unread_count) VALUES ('c', 's', 'v', 'resolved', :t, :t, :t, 'x', "
                    "'visitor', 0)"
                ),
                {"t": made},
            )
            for index, body in enumerate(("the gramophone broke", "a second gramophone")):
                conn.execute(
                    text(
                        "INSERT INTO messages (id, conversation_id, author_type, body, "
                        "private, created_at) VALUES (:id, 'c', 'visitor', :body, :no, :t)"
                    ),
                    {"id": f"m{index}", "body": body, "no": False, "t": made},
                )
            assert _search_objects(conn) == set()
        to("head")
        with engine.connect() as conn:
            assert matches(conn, "gramophone") == (2, 0)
            assert matches(conn, "garbo") == (0, 1)
            assert _search_objects(conn)
        to("0015", down=True)
        with engine.connect() as conn:
            assert _search_objects(conn) == set()
            bodies = conn.execute(text("SELECT body FROM messages ORDER BY id")).scalars().all()
            assert bodies == ["the gramophone broke", "a second gramophone"]
        to("head")
        with engine.begin() as conn:
            assert matches(conn, "gramophone") == (2, 0)
            for table in ("messages", "conversations", "visitors", "sites"):
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (constant names)
    finally:
        engine.dispose()
