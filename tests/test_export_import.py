"""``chatdesk export`` and ``chatdesk import`` through the command's runner, on real
databases: a SQLite file of the test's own, then the suite's database (PostgreSQL in the
PostgreSQL pass, which fails when that server is unreachable: tests/conftest.py), then
SQLite again."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Computed, Integer, MetaData, Table, create_engine, func, select
from sqlalchemy.dialects.postgresql import TSVECTOR
from typer.testing import CliRunner

from chatdesk.app import create_app
from chatdesk.cli import EXIT_NOT_EMPTY, app
from chatdesk.db.tables import metadata
from chatdesk.settings import Settings
from chatdesk.transfer.datafile import (
    SECRET_COLUMNS,
    SECRET_TABLES,
    exported_tables,
    is_derived_column,
    is_derived_table,
)
from tests.api.world import ApiWorld, api_world
from tests.factories import PDF, bearer, csrf, login

runner = CliRunner()

# Tables the populated database must have rows in, so the round trip carries each kind.
POPULATED = {
    "sites",
    "operators",
    "api_tokens",
    "operator_totp",
    "operator_recovery_codes",
    "operator_sessions",
    "visitors",
    "visitor_tokens",
    "visitor_blocks",
    "conversations",
    "messages",
    "labels",
    "conversation_labels",
    "attachments",
    "canned_responses",
    "webhooks",
    "events",
    "audit_log",
}


def _cli(url: str, *args: str) -> Any:
    return runner.invoke(app, list(args), env={"CHATDESK_DATABASE_URL": url})


@pytest.fixture
def source(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, TestClient]]:
    """A SQLite database of its own, served by an app, whatever the suite's database."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    with TestClient(create_app(settings.model_copy(update={"database_url": url}))) as client:
        yield url, client


def _populate(client: TestClient) -> ApiWorld:
    """Something in every table that holds data, made through the API."""
    world = api_world(client)
    cid = world.conversation["id"]
    owner = login(client, world.owner)
    secret = client.post("/api/v1/auth/totp/setup", headers=csrf(owner)).json()["secret"]
    code = pyotp.TOTP(secret).now()
    enabled = client.post("/api/v1/auth/totp/enable", json={"code": code}, headers=csrf(owner))
    assert enabled.status_code == 200, enabled.text
    upload = client.post(
        f"/api/v1/widget/conversations/{cid}/attachments",
        files={"file": ("terms.pdf", PDF, "application/pdf")},
        headers=world.visitor,
    )
    assert upload.status_code == 201, upload.text
    sent = client.post(
        f"/api/v1/widget/conversations/{cid}/messages",
        json={
            "body": "Here — café ✓",
            "client_msg_id": "a1",
            "attachment_ids": [upload.json()["id"]],
        },
        headers=world.visitor,
    )
    assert sent.status_code == 201, sent.text
    for n, (body, private) in enumerate((("A note about O'Brien", True), ("Thanks!", False))):
        reply = client.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"body": body, "client_msg_id": f"r{n}", "private": private},
            headers=world.op,
        )
        assert reply.status_code == 201, reply.text
    done = client.patch(
        f"/api/v1/conversations/{cid}",
        json={"status": "resolved", "labels": ["vip"]},
        headers=world.op,
    )
    assert done.status_code == 200, done.text
    rated = client.post(
        f"/api/v1/widget/conversations/{cid}/rating",
        json={"score": 5, "comment": "Quick"},
        headers=world.visitor,
    )
    assert rated.status_code in (200, 201), rated.text
    canned = {"shortcut": "hi", "body": "Hello there", "site_id": world.site["id"]}
    assert client.post("/api/v1/canned-responses", json=canned, headers=world.op).status_code == 201
    hook = {"url": "https://hooks.example.com/in", "events": ["message.created"]}
    assert client.post("/api/v1/webhooks", json=hook, headers=csrf(owner)).status_code == 201
    visitor_id = client.get("/api/v1/widget/visitor", headers=world.visitor).json()["id"]
    block = {"visitor_id": visitor_id, "duration_seconds": 3600, "reason": "spam"}
    assert client.post("/api/v1/blocks", json=block, headers=world.op).status_code == 201
    return world


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("secrets", [True, False], ids=["with-secrets", "without-secrets"])
def test_a_round_trip_through_both_databases_gives_the_same_bytes(
    source: tuple[str, TestClient], database_url: str, tmp_path: Path, secrets: bool
) -> None:
    source_url, client = source
    _populate(client)
    populated = _counts(source_url)
    assert {name for name in POPULATED if populated[name] == 0} == set()
    flag = ["--include-secrets"] if secrets else []
    first, second, third = (tmp_path / f"{n}.jsonl" for n in ("first", "second", "third"))
    back = f"sqlite:///{tmp_path / 'back.db'}"

    exported = _cli(source_url, "export", "--output", str(first), *flag)
    assert exported.exit_code == 0, exported.output
    imported = _cli(database_url, "import", str(first))
    assert imported.exit_code == 0, imported.output
    assert _cli(database_url, "export", "--output", str(second), *flag).exit_code == 0
    assert _cli(back, "import", str(second)).exit_code == 0
    assert _cli(back, "export", "--output", str(third), *flag).exit_code == 0

    assert first.read_bytes() == second.read_bytes() == third.read_bytes()
    # (``meta`` aside: the source's scheduler lease is a process's state, not data.)
    carried = {t.name for t in exported_tables(secrets=secrets)} - {"meta"}
    expected = {name: n for name, n in populated.items() if name in carried}
    assert {name: n for name, n in _counts(back).items() if name in carried} == expected
    rows = len(first.read_text(encoding="utf-8").splitlines()) - 2
    assert f"Imported {rows} rows" in imported.output


def test_the_header_names_format_schema_and_tables(
    source: tuple[str, TestClient], tmp_path: Path
) -> None:
    source_url, client = source
    _populate(client)
    output = tmp_path / "out.jsonl"
    assert _cli(source_url, "export", "--output", str(output)).exit_code == 0
    lines = output.read_text(encoding="utf-8").splitlines()
    head, end = json.loads(lines[0]), json.loads(lines[-1])
    assert head["format"] == "chatdesk-export" and head["version"] == 1
    engine = create_engine(source_url)
    with engine.connect() as conn:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    engine.dispose()
    assert head["schema"] == revision
    assert head["secrets"] is False
    # Parents first: every table comes after those its foreign keys point to.
    order = head["tables"]
    for name in order:
        for key in metadata.tables[name].foreign_keys:
            if key.column.table.name in order:
                assert order.index(key.column.table.name) < order.index(name)
    assert end == {"end": {"rows": len(lines) - 2}}
    bodies = [json.loads(x)["r"]["body"] for x in lines[1:-1] if '"t":"messages"' in x]
    assert "Here — café ✓" in bodies and "A note about O'Brien" in bodies


def test_without_secrets_no_credential_leaves_the_database(
    source: tuple[str, TestClient], settings: Settings, tmp_path: Path
) -> None:
    source_url, client = source
    world = _populate(client)
    database_url = settings.database_url
    output = tmp_path / "out.jsonl"
    assert _cli(source_url, "export", "--output", str(output)).exit_code == 0
    text = output.read_text(encoding="utf-8")
    tables = {json.loads(line).get("t") for line in text.splitlines()}
    assert tables.isdisjoint(SECRET_TABLES)
    engine = create_engine(source_url)
    with engine.connect() as conn:
        for table_name, column in SECRET_COLUMNS:
            table = metadata.tables[table_name]
            for value in conn.execute(select(table.c[column])).scalars():
                if value:
                    assert value not in text, f"{table_name}.{column} leaked"
        for table_name in SECRET_TABLES:
            table = metadata.tables[table_name]
            for row in conn.execute(select(table)):
                for name, value in row._mapping.items():
                    if re.search("hash|secret|token|code", name) and isinstance(value, str):
                        assert value not in text, f"{table_name}.{name} leaked"
    engine.dispose()
    # Imported, the data is there but nobody signs in with the old credentials.
    assert _cli(database_url, "import", str(output)).exit_code == 0
    with TestClient(create_app(settings)) as imported:
        listed = imported.get("/api/v1/conversations", headers=world.op)
        assert listed.status_code == 401
        sign_in = {"email": world.owner.email, "password": world.owner.password}
        assert imported.post("/api/v1/auth/login", json=sign_in).status_code == 401


def test_with_secrets_the_imported_database_carries_on(
    source: tuple[str, TestClient], settings: Settings, tmp_path: Path
) -> None:
    source_url, client = source
    world = _populate(client)
    database_url = settings.database_url
    output = tmp_path / "out.jsonl"
    assert _cli(source_url, "export", "--output", str(output), "--include-secrets").exit_code == 0
    last_event = max(
        json.loads(line)["r"]["id"]
        for line in output.read_text(encoding="utf-8").splitlines()
        if line.startswith('{"t":"events"')
    )
    assert _cli(database_url, "import", str(output)).exit_code == 0
    with TestClient(create_app(settings)) as imported:
        cid = world.conversation["id"]
        history = imported.get(f"/api/v1/conversations/{cid}/messages", headers=world.op)
        assert history.status_code == 200, history.text
        bodies = [m["body"] for m in history.json()["messages"]]
        assert "A note about O'Brien" in bodies
        # The visitor's session still works, and their block still holds.
        blocked = imported.post(
            f"/api/v1/widget/conversations/{cid}/messages",
            json={"body": "Back again", "client_msg_id": "b1"},
            headers=bearer(world.visitor_token),
        )
        assert blocked.status_code == 403 and "blocked" in blocked.text
        # New events follow the imported ones (PostgreSQL's sequence was moved past them).
        reply = imported.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"body": "After the move", "client_msg_id": "m1"},
            headers=world.op,
        )
        assert reply.status_code == 201, reply.text
    engine = create_engine(database_url)
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(metadata.tables["events"].c.id))).scalar_one()
    engine.dispose()
    assert newest > last_event


def test_an_import_into_a_database_with_data_is_refused(
    source: tuple[str, TestClient], tmp_path: Path
) -> None:
    source_url, client = source
    _populate(client)
    output = tmp_path / "out.jsonl"
    assert _cli(source_url, "export", "--output", str(output)).exit_code == 0
    before = _counts(source_url)
    refused = _cli(source_url, "import", str(output))
    assert refused.exit_code == EXIT_NOT_EMPTY
    assert "not empty" in refused.output
    assert _counts(source_url) == before


def _lines(source_url: str, tmp_path: Path) -> list[str]:
    output = tmp_path / "good.jsonl"
    assert _cli(source_url, "export", "--output", str(output)).exit_code == 0
    return output.read_text(encoding="utf-8").splitlines(keepends=True)


def _with_header(lines: list[str], **changes: Any) -> list[str]:
    return [json.dumps({**json.loads(lines[0]), **changes}) + "\n", *lines[1:]]


def _message_line(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith('{"t":"messages"'))


def _replace(lines: list[str], index: int, line: str) -> list[str]:
    return [*lines[:index], line, *lines[index + 1 :]]


BAD_FILES: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "wrong version": (lambda ls: _with_header(ls, version=99), "format version 99"),
    "other schema": (lambda ls: _with_header(ls, schema="0001"), "schema revision '0001'"),
    "not an export": (lambda ls: ['{"hello": 1}\n', *ls[1:]], "not a chatdesk export"),
    "empty file": (lambda ls: [], "not a chatdesk export"),
    "cut mid-line": (lambda ls: [*ls[:-2], ls[-2][:20]], "truncated"),
    "cut at a line end": (lambda ls: ls[:-3], "truncated"),
    "bad JSON": (lambda ls: _replace(ls, _message_line(ls), "{not json\n"), "not JSON"),
    "unknown table": (
        lambda ls: _replace(ls, _message_line(ls), '{"t":"nope","r":{}}\n'),
        "unknown table 'nope'",
    ),
    "unknown column": (
        lambda ls: _replace(
            ls, _message_line(ls), ls[_message_line(ls)].replace('"body"', '"bodyx"')
        ),
        "has no column 'bodyx'",
    ),
    "bad timestamp": (
        lambda ls: _replace(
            ls,
            _message_line(ls),
            re.sub(r'"created_at":"[^"]+"', '"created_at":"yesterday"', ls[_message_line(ls)]),
        ),
        "not a timestamp",
    ),
    "row of a missing conversation": (
        lambda ls: _replace(
            ls,
            _message_line(ls),
            re.sub(
                r'"conversation_id":"[^"]+"',
                '"conversation_id":"01jzzzzzzzzzzzzzzzzzzzzzzz"',
                ls[_message_line(ls)],
            ),
        ),
        "the database refused a row",
    ),
    "rows miscounted": (lambda ls: [*ls[:-1], '{"end":{"rows":1}}\n'], "other rows"),
    "data after the end": (lambda ls: [*ls, ls[1]], "after the end"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_clearly_and_writes_nothing(
    source: tuple[str, TestClient], database_url: str, tmp_path: Path, case: str
) -> None:
    source_url, client = source
    _populate(client)
    spoil, message = BAD_FILES[case]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(spoil(_lines(source_url, tmp_path))), encoding="utf-8")
    result = _cli(database_url, "import", str(bad))
    assert result.exit_code == 1, result.output
    assert message in result.output and "nothing was imported" in result.output
    assert "Traceback" not in result.output
    assert set(_counts(database_url).values()) == {0}


def test_a_missing_file_is_one_line(database_url: str, tmp_path: Path) -> None:
    result = _cli(database_url, "import", str(tmp_path / "nothing.jsonl"))
    assert result.exit_code == 1 and "no such file" in result.output


def test_every_credential_column_is_listed_as_a_secret() -> None:
    """A column added later whose name says credential must be listed, or a reason given."""
    public = {
        ("sites", "site_key"),  # printed in every embed snippet
        ("operators", "must_change_password"),  # a flag, no credential
        ("outbox", "last_status_code"),  # an HTTP status
    }
    for table in metadata.sorted_tables:
        for column in table.columns:
            pair = (table.name, column.name)
            if re.search("hash|secret|token|code|password", column.name) and pair not in public:
                assert table.name in SECRET_TABLES or pair in SECRET_COLUMNS, pair
    for table_name, column_name in SECRET_COLUMNS:
        assert column_name in metadata.tables[table_name].columns
    assert set(metadata.tables) >= SECRET_TABLES


def test_derived_tables_and_columns_are_never_exported() -> None:
    scratch = MetaData()
    table = Table(
        "notes",
        scratch,
        Column("id", Integer, primary_key=True),
        Column("doubled", Integer, Computed("id * 2")),
        Column("words", TSVECTOR),
        Column("rank", Integer, info={"derived": True}),
        Column("plain", Integer),
    )
    derived = [c.name for c in table.columns if is_derived_column(c)]
    assert derived == ["doubled", "words", "rank"]
    assert is_derived_table(Table("messages_fts", scratch, Column("x", Integer)))
    assert is_derived_table(Table("ix", scratch, Column("x", Integer), info={"derived": True}))
    assert not is_derived_table(table)
