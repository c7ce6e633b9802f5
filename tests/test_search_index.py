"""SQLite's full-text index takes a transaction's new messages as it commits (ADR 0031).

The insert trigger only notes the row; the engine's commit hook indexes what was noted,
inside the same transaction. These tests write through a real engine on a real file and
check the index against its table with FTS5's own integrity check (which compares every
row of ``messages`` with the index). SQLite only, whichever database the suite runs on.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import downgrade, upgrade
from chatdesk.ids import new_id
from tests.api.expect import send_visitor
from tests.api.world import api_world


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chatdesk.db'}"


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = make_engine(database_url, writer=True)
    upgrade(engine)
    yield engine  # type: ignore[misc]
    engine.dispose()


def _add(conn: Connection, conversation_id: str, body: str) -> str:
    message_id = new_id()
    conn.execute(
        text(
            "INSERT INTO messages (id, conversation_id, author_type, body, private, created_at) "
            "VALUES (:id, :c, 'visitor', :body, 0, :at)"
        ),
        {"id": message_id, "c": conversation_id, "body": body, "at": datetime.now(UTC)},
    )
    return message_id


def _matches(conn: Connection, word: str) -> int:
    query = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH :w"
    return int(conn.execute(text(query), {"w": f'"{word}"'}).scalar_one())


def _pending(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM messages_fts_pending")).scalar_one())


def _check(conn: Connection) -> None:
    """FTS5 compares the index with every row of messages: raises when they differ."""
    conn.execute(text("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"))


def test_a_transactions_messages_are_indexed_as_it_commits(
    client: TestClient, engine: Engine
) -> None:
    world = api_world(client)
    conversation_id = world.conversation["id"]
    with engine.begin() as conn:
        _add(conn, conversation_id, "alpha one")
        bravo = _add(conn, conversation_id, "bravo two")
        charlie = _add(conn, conversation_id, "charlie three")
        assert _pending(conn) == 3  # noted, not indexed yet
        assert _matches(conn, "alpha") == 0
        # Deleted and changed before the commit: nothing of them is in the index yet.
        conn.execute(text("DELETE FROM messages WHERE id = :id"), {"id": bravo})
        conn.execute(
            text("UPDATE messages SET body = 'delta four' WHERE id = :id"), {"id": charlie}
        )
    with engine.connect() as conn:
        _check(conn)
        assert _pending(conn) == 0
        counts = {word: _matches(conn, word) for word in ("alpha", "bravo", "charlie", "delta")}
    assert counts == {"alpha": 1, "bravo": 0, "charlie": 0, "delta": 1}
    found = client.get("/api/v1/conversations?q=delta", headers=world.op).json()
    assert [c["id"] for c in found["conversations"]] == [conversation_id]

    # Changed and deleted once indexed: the index follows.
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET body = 'echo five' WHERE id = :id"), {"id": charlie})
    with engine.begin() as conn:
        _check(conn)
        assert (_matches(conn, "delta"), _matches(conn, "echo")) == (0, 1)
        conn.execute(text("DELETE FROM messages WHERE id = :id"), {"id": charlie})
    with engine.connect() as conn:
        _check(conn)
        assert (_matches(conn, "echo"), _pending(conn)) == (0, 0)


def test_a_rolled_back_transaction_leaves_nothing_noted_or_indexed(
    client: TestClient, engine: Engine
) -> None:
    conversation_id = api_world(client).conversation["id"]
    with pytest.raises(RuntimeError), engine.begin() as conn:
        _add(conn, conversation_id, "foxtrot six")
        raise RuntimeError("abandoned")
    with engine.connect() as conn:
        _check(conn)
        assert (_matches(conn, "foxtrot"), _pending(conn)) == (0, 0)


def test_rows_a_plain_connection_noted_are_indexed_by_the_next_write(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    world = api_world(client)
    conversation_id = world.conversation["id"]
    plain = sqlite3.connect(tmp_path / "chatdesk.db")
    try:
        plain.execute("PRAGMA foreign_keys=ON")
        plain.execute(
            "INSERT INTO messages (id, conversation_id, author_type, body, private, created_at) "
            "VALUES (?, ?, 'visitor', 'golf seven', 0, ?)",
            (new_id(), conversation_id, datetime.now(UTC).isoformat()),
        )
        plain.commit()
    finally:
        plain.close()
    with engine.connect() as conn:
        assert (_matches(conn, "golf"), _pending(conn)) == (0, 1)
    # Any write through chatdesk (here a visitor's message over HTTP) takes it in.
    response = send_visitor(client, world.visitor_token, conversation_id, "hotel eight")
    assert response.status_code == 201, response.text
    with engine.connect() as conn:
        _check(conn)
        counts = (_matches(conn, "golf"), _matches(conn, "hotel"), _pending(conn))
    assert counts == (1, 1, 0)


def test_the_migration_down_and_up_keeps_the_index_whole(
    client: TestClient, engine: Engine, database_url: str
) -> None:
    conversation_id = api_world(client).conversation["id"]
    with engine.begin() as conn:
        _add(conn, conversation_id, "india nine")
    # A row left noted by a writer without the hook: the downgrade indexes it.
    plain = sqlite3.connect(Path(database_url.removeprefix("sqlite:///")))
    try:
        plain.execute(
            "INSERT INTO messages (id, conversation_id, author_type, body, private, created_at) "
            "VALUES (?, ?, 'visitor', 'juliet ten', 0, ?)",
            (new_id(), conversation_id, datetime.now(UTC).isoformat()),
        )
        plain.commit()
    finally:
        plain.close()
    downgrade(engine, "0018")
    with engine.begin() as conn:
        _add(conn, conversation_id, "kilo eleven")  # 0016's trigger indexes it at once
    with engine.begin() as conn:
        _check(conn)
        assert [_matches(conn, w) for w in ("india", "juliet", "kilo")] == [1, 1, 1]
    upgrade(engine)
    with engine.begin() as conn:
        _add(conn, conversation_id, "lima twelve")
    with engine.connect() as conn:
        _check(conn)
        assert [_matches(conn, w) for w in ("india", "juliet", "kilo", "lima")] == [1, 1, 1, 1]
        assert _pending(conn) == 0
