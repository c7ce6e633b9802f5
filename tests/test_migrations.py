"""The migrations build exactly the schema db/tables.py declares, and carry data forward."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

import chatdesk.db.migrate
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.tables import metadata

SCRIPTS = Path(chatdesk.db.migrate.__file__).parent / "migrations"


def test_the_migrations_build_the_declared_schema(database_url: str) -> None:
    engine = make_engine(database_url, writer=True)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
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
            conn.execute(
                text(
                    "INSERT INTO sites (id, name, site_key, allowed_origins, greeting, "
                    "accent_color, position, prechat_name, prechat_email, offline_message, "
                    "enabled, identity_required, created_at, updated_at) VALUES ('s', 'S', "
                    "'pk_s', '[]', 'Hi', '#000000', 'right', 'off', 'off', '', 1, 0, :t, :t)"
                ),
                {"t": made},
            )
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
