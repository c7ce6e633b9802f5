"""``chatdesk backup``: a consistent copy of a live SQLite database, and its restore."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chatdesk.app import create_app
from chatdesk.cli import app
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.settings import Settings
from chatdesk.transfer import backup
from chatdesk.transfer.backup import backup_sqlite
from tests.api.world import ApiWorld, api_world
from tests.deploy.stack import postgres_database

runner = CliRunner()


@pytest.fixture
def live(settings: Settings, tmp_path: Path) -> Iterator[tuple[Path, TestClient, Settings]]:
    """A SQLite database of its own served by an app (whatever the suite's database)."""
    path = tmp_path / "live.db"
    own = settings.model_copy(update={"database_url": f"sqlite:///{path}"})
    with TestClient(create_app(own)) as client:
        yield path, client, own


def _send(world: ApiWorld, n: int, body: str) -> None:
    sent = world.client.post(
        f"/api/v1/widget/conversations/{world.conversation['id']}/messages",
        json={"body": body, "client_msg_id": f"m{n}"},
        headers=world.visitor,
    )
    assert sent.status_code == 201, sent.text


def _messages(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])


def _check_copy(path: Path) -> set[str]:
    """The copy passes SQLite's integrity check, and every message in it has its
    ``message.created`` event in it and the other way round: one point in time."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        messages = {row[0] for row in conn.execute("SELECT id FROM messages")}
        created = {
            json.loads(row[0])["message"]["id"]
            for row in conn.execute("SELECT data FROM events WHERE type = 'message.created'")
        }
    assert messages == created
    return messages


def test_a_backup_taken_while_the_server_writes_is_consistent(
    live: tuple[Path, TestClient, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, client, _settings = live
    world = api_world(client)
    for n in range(120):  # a few hundred pages: the copy takes many steps
        _send(world, n, f"{n} " + "lorem ipsum " * 300)
    stop = threading.Event()
    written: list[float] = []

    def write() -> None:
        n = 1000
        while not stop.is_set():
            _send(world, n, f"during {n}")
            written.append(time.monotonic())
            n += 1

    @contextlib.contextmanager
    def overlapping(_description: str, _total: int | None) -> Iterator[Callable[[int], None]]:
        """The backup's progress hook: on its first step, with its snapshot taken and the
        copy under way, it lets the writer store two more messages (a busy machine could
        otherwise finish the copy between two of the writer's requests)."""
        seen = len(written)

        def advance(_done: int) -> None:
            deadline = time.monotonic() + 10
            while len(written) < seen + 2:  # a backup that blocked writers would stop here
                assert time.monotonic() < deadline, "no write went through during the backup"
                time.sleep(0.005)

        yield advance

    monkeypatch.setattr(backup, "progress_bar", overlapping)
    writer = threading.Thread(target=write)
    before = _messages(path)
    writer.start()
    while len(written) < 3:
        time.sleep(0.01)
    started = time.monotonic()
    copy = tmp_path / "copy.db"
    pages = backup_sqlite(str(path), copy, step_pages=1)
    ended = time.monotonic()
    while not any(t > ended for t in written):
        time.sleep(0.01)
    stop.set()
    writer.join()
    assert pages > 100
    # The server wrote while the copy was made, and before and after it.
    assert any(started < t < ended for t in written)
    in_copy = _check_copy(copy)
    assert before < len(in_copy) < _messages(path)


def test_backup_then_restore_through_the_command(
    live: tuple[Path, TestClient, Settings], tmp_path: Path
) -> None:
    path, client, settings = live
    world = api_world(client)
    for n in range(5):
        _send(world, n, f"kept {n}")
    copy = tmp_path / "backups" / "chatdesk.db"
    copy.parent.mkdir()
    result = runner.invoke(
        app, ["backup", str(copy)], env={"CHATDESK_DATABASE_URL": f"sqlite:///{path}"}
    )
    assert result.exit_code == 0, result.output
    assert f"to {copy}" in result.output
    assert not list(copy.parent.glob("*.partial"))
    _check_copy(copy)
    # Restore (docs/deploy.md): the copy put in place of the database file, served again.
    restored = tmp_path / "restored" / "chatdesk.db"
    restored.parent.mkdir()
    restored.write_bytes(copy.read_bytes())
    again = settings.model_copy(update={"database_url": f"sqlite:///{restored}"})
    with TestClient(create_app(again)) as served:
        cid = world.conversation["id"]
        history = served.get(f"/api/v1/conversations/{cid}/messages", headers=world.op)
        assert history.status_code == 200, history.text
        bodies: list[Any] = [m["body"] for m in history.json()["messages"]]
        assert [b for b in bodies if b.startswith("kept")] == [f"kept {n}" for n in range(5)]


def test_backup_of_postgresql_explains_its_own_tools(tmp_path: Path) -> None:
    url = "postgresql+psycopg://chatdesk@127.0.0.1:1/chatdesk"
    result = runner.invoke(
        app, ["backup", str(tmp_path / "x.db")], env={"CHATDESK_DATABASE_URL": url}
    )
    assert result.exit_code == 1
    assert "pg_dump --format=custom" in result.output and "pg_restore" in result.output
    assert not (tmp_path / "x.db").exists()


def test_backup_of_a_missing_database_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    result = runner.invoke(
        app, ["backup", str(tmp_path / "x.db")], env={"CHATDESK_DATABASE_URL": url}
    )
    assert result.exit_code == 1 and "no database at" in result.output


def test_postgresql_backup_and_restore_as_documented(settings: Settings, tmp_path: Path) -> None:
    """docs/deploy.md's pg_dump and pg_restore, on the PostgreSQL server (whatever the
    suite's database): a dump taken while served restores into a new database that
    serves the same conversation."""
    with (
        postgres_database("chatdesk_backup") as source,
        postgres_database("chatdesk_restored") as target,
    ):
        served = settings.model_copy(update={"database_url": source})
        engine = make_engine(source, writer=True)
        upgrade(engine)
        engine.dispose()
        with TestClient(create_app(served)) as client:
            world = api_world(client)
            for n in range(3):
                _send(world, n, f"kept {n}")
            plain = source.replace("+psycopg", "")
            dump = tmp_path / "chatdesk.dump"
            subprocess.run(
                ["pg_dump", "--format=custom", f"--file={dump}", plain], check=True, timeout=60
            )
        subprocess.run(
            ["pg_restore", "--no-owner", f"--dbname={target.replace('+psycopg', '')}", str(dump)],
            check=True,
            timeout=60,
        )
        again = settings.model_copy(update={"database_url": target})
        with TestClient(create_app(again)) as restored:
            cid = world.conversation["id"]
            history = restored.get(f"/api/v1/conversations/{cid}/messages", headers=world.op)
            assert history.status_code == 200, history.text
            bodies = [m["body"] for m in history.json()["messages"]]
            assert [b for b in bodies if b.startswith("kept")] == ["kept 0", "kept 1", "kept 2"]
