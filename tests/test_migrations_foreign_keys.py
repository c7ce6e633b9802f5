"""On SQLite, migrations that rebuild a table keep the rows that refer to it, and a
migration that leaves a broken reference is rolled back with a clear error."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from typer.testing import CliRunner

import chatdesk.db.migrate
from chatdesk.cli import app as cli
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import ForeignKeyViolations, current_revision, downgrade, upgrade
from tests.test_migrations import add_site

SCRIPTS = Path(chatdesk.db.migrate.__file__).parent / "migrations"
MADE = datetime(2025, 1, 2, tzinfo=UTC)
# Every table a conversation's rows live in, and how many rows the test writes to each.
WRITTEN = {"sites": 1, "visitors": 1, "conversations": 1, "messages": 3}


def _engine(tmp_path: Path) -> Engine:
    # One pooled connection: the one the migrations ran on is the one handed out next.
    return make_engine(f"sqlite:///{tmp_path / 'chatdesk.db'}", pool_size=1, writer=True)


def _write_a_conversation(engine: Engine) -> None:
    with engine.begin() as conn:
        add_site(conn, "s", MADE)
        conn.execute(
            text(
                "INSERT INTO visitors (id, site_id, name, created_at, last_seen_at) "
                "VALUES ('v', 's', 'Ada', :t, :t)"
            ),
            {"t": MADE},
        )
        conn.execute(
            text(
                "INSERT INTO conversations (id, site_id, visitor_id, status, created_at, "
                "updated_at, last_message_at, last_message_preview, last_message_author, "
                "unread_count) VALUES ('c', 's', 'v', 'open', :t, :t, :t, 'three', "
                "'visitor', 0)"
            ),
            {"t": MADE},
        )
        for index, body in enumerate(("one", "two", "three")):
            conn.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, author_type, body, private, "
                    "created_at) VALUES (:id, 'c', 'visitor', :body, 0, :t)"
                ),
                {"id": f"m{index}", "body": body, "t": MADE + timedelta(seconds=index)},
            )


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in WRITTEN
        }


def _bodies(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        query = "SELECT body FROM messages WHERE conversation_id = 'c' ORDER BY id"
        return list(conn.execute(text(query)).scalars())


def _foreign_keys_on(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())


def _revisions_down_to(revision: str) -> list[str]:
    """The revisions from head down to (not including) ``revision``, newest first: each
    one's downgrade in the order a step-by-step downgrade runs them."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    walked = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]
    return walked[: walked.index(revision)]


def test_rebuilding_tables_keeps_the_rows_that_refer_to_them(tmp_path: Path) -> None:
    """The downgrades of 0011, 0008 and 0004 rebuild ``conversations`` (and others
    ``sites``, ``visitors``, ``messages``); the upgrades of 0005, 0007 and 0012 rebuild
    ``sites``. With foreign keys on, each rebuild's DROP would cascade to the messages."""
    engine = _engine(tmp_path)
    try:
        upgrade(engine)
        _write_a_conversation(engine)
        steps = _revisions_down_to("0003")
        assert {"0011", "0008", "0004"} <= set(steps)
        for revision in steps:
            downgrade(engine, "-1")
            assert current_revision(engine) != revision
            assert _counts(engine) == WRITTEN, f"rows lost by the downgrade of {revision}"
        assert current_revision(engine) == "0003"
        assert _foreign_keys_on(engine)
        upgrade(engine)
        assert _counts(engine) == WRITTEN
        assert _bodies(engine) == ["one", "two", "three"]
        assert _foreign_keys_on(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    finally:
        engine.dispose()


def test_a_migration_that_leaves_a_broken_reference_is_rolled_back(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        upgrade(engine)
        downgrade(engine, "0017")
        _write_a_conversation(engine)
        # A message whose conversation is gone, written around the foreign keys (as an
        # older version or a hand edit might have left it).
        raw = sqlite3.connect(tmp_path / "chatdesk.db")
        with raw:
            raw.execute(
                "INSERT INTO messages (id, conversation_id, author_type, body, private, "
                "created_at) VALUES ('lost', 'gone', 'visitor', 'x', 0, '2025-01-02')"
            )
        raw.close()
        broken = r"1 row refers .*messages rowid \d+ -> conversations"
        with pytest.raises(ForeignKeyViolations, match=broken):
            upgrade(engine)
        assert current_revision(engine) == "0017"
        assert "operator_passkeys" not in inspect(engine).get_table_names()
        assert _foreign_keys_on(engine)
        # The command says so in one line, and fails.
        url = f"sqlite:///{tmp_path / 'chatdesk.db'}"
        result = CliRunner().invoke(cli, ["migrate"], env={"CHATDESK_DATABASE_URL": url})
        assert result.exit_code == 1
        assert result.output.startswith("error: after the migration 1 row refers")
        assert re.search(broken, result.output), result.output
        assert result.output.rstrip().endswith("rolled back and the database is unchanged")
        assert current_revision(engine) == "0017"
    finally:
        engine.dispose()


def test_a_migration_inside_a_transaction_that_enforces_foreign_keys_is_refused(
    tmp_path: Path,
) -> None:
    """Inside a transaction SQLite's foreign keys cannot be turned off: rather than let a
    rebuilt table take its referring rows along, the migration does not start."""
    engine = _engine(tmp_path)
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    try:
        upgrade(engine, "0011")
        _write_a_conversation(engine)
        with pytest.raises(RuntimeError, match="outside a transaction"), engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0012")  # rebuilds ``sites``
        assert current_revision(engine) == "0011"
        assert _counts(engine) == WRITTEN
    finally:
        engine.dispose()
