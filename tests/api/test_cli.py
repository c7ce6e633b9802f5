"""The ``chatdesk`` command through typer's runner, against the test's database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from chatdesk.cli import app
from tests.api.expect import assert_error
from tests.api.world import api_world

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("CHATDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "60")  # a narrow terminal must not break what is printed
    return database_url


def test_migrate(cli_env: str) -> None:
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "schema is current" in result.output
    engine = create_engine(cli_env)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"sites", "operators", "conversations", "messages", "events"} <= tables
    again = runner.invoke(app, ["migrate"])
    assert again.exit_code == 0


def test_create_operator_then_sign_in(cli_env: str, client: TestClient) -> None:
    result = runner.invoke(
        app,
        [
            "create-operator",
            "--email",
            "Boss@Example.com",
            "--name",
            "Boss",
            "--role",
            "owner",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created owner boss@example.com" in result.output
    assert "a long enough password" not in result.output
    signed = client.post(
        "/api/v1/auth/login",
        json={"email": "boss@example.com", "password": "a long enough password"},
    )
    assert signed.status_code == 200
    assert signed.json()["operator"]["role"] == "owner"
    duplicate = runner.invoke(
        app,
        ["create-operator", "--email", "boss@example.com", "--name", "B", "--password-stdin"],
        input="another long password\n",
    )
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output


def test_create_operator_bad_input(cli_env: str) -> None:
    for args, password, message in (
        (["--email", "not-an-email"], "long enough password", "not an email address"),
        (["--email", "a@example.com"], "short", "at least 10 characters"),
        (["--email", "a@example.com", "--role", "king"], "long enough password", "role"),
        (["--email", "a@example.com"], "", "at least 10 characters"),
    ):
        result = runner.invoke(
            app,
            ["create-operator", "--name", "N", *args, "--password-stdin"],
            input=password + "\n",
        )
        assert result.exit_code == 1, args
        assert "error:" in result.output and message in result.output, result.output
        assert "Traceback" not in result.output


def test_create_operator_needs_password_stdin(cli_env: str) -> None:
    result = runner.invoke(app, ["create-operator", "--email", "a@example.com", "--name", "N"])
    assert result.exit_code == 1
    assert "--password-stdin" in result.output


def test_create_site_prints_key_and_snippet(cli_env: str, client: TestClient) -> None:
    result = runner.invoke(
        app, ["create-site", "--name", "Shop", "--origin", "https://shop.example.com"]
    )
    assert result.exit_code == 0, result.output
    key = re.search(r"Site key: (pk_[A-Za-z0-9_-]+)", result.output)
    assert key is not None, result.output
    snippet = next(line for line in result.output.splitlines() if "<script" in line)
    assert snippet.strip().endswith("</script>")  # one line, even at 60 columns
    assert f'data-site="{key.group(1)}"' in snippet and "/widget.js" in snippet
    config = client.get("/api/v1/widget/config", params={"site_key": key.group(1)})
    assert config.status_code == 200 and config.json()["site"]["name"] == "Shop"
    bad = runner.invoke(app, ["create-site", "--name", "Bad", "--origin", "shop.example.com"])
    assert bad.exit_code == 1 and "origin" in bad.output


def test_demo_populates_the_inbox(cli_env: str, client: TestClient) -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    found = re.search(r"alice@demo\.chatdesk\.local\s+password: (\S+)", result.output)
    assert found is not None, result.output
    signed = client.post(
        "/api/v1/auth/login",
        json={"email": "alice@demo.chatdesk.local", "password": found.group(1)},
    )
    assert signed.status_code == 200
    conversations = client.get("/api/v1/conversations").json()["conversations"]
    assert len(conversations) == 4
    assert {c["status"] for c in conversations} == {"open", "pending", "resolved"}
    assert all(c["visitor"] for c in conversations)
    again = runner.invoke(app, ["demo"])
    assert again.exit_code == 0 and "already exists" in again.output
    assert len(client.get("/api/v1/conversations").json()["conversations"]) == 4


def test_export_writes_json_lines(cli_env: str, client: TestClient, tmp_path: Path) -> None:
    world = api_world(client)
    client.post(
        f"/api/v1/conversations/{world.conversation['id']}/messages",
        json={"body": "note ' OR 1=1 --", "client_msg_id": "n", "private": True},
        headers=world.op,
    )
    output = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["export", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "Exported 1 conversations" in result.output
    lines = output.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    exported = json.loads(lines[0])
    assert exported["id"] == world.conversation["id"]
    assert [m["body"] for m in exported["messages"]] == ["Hello", "note ' OR 1=1 --"]


def test_purge_expires_old_cursors(cli_env: str, client: TestClient) -> None:
    world = api_world(client)
    before = client.get("/api/v1/events?after=0&wait=0", headers=world.op).json()
    assert before["events"]
    kept = runner.invoke(app, ["purge"])
    assert kept.exit_code == 0 and "Removed 0 events" in kept.output
    result = runner.invoke(app, ["purge", "--days", "0"])
    assert result.exit_code == 0, result.output
    assert f"Removed {len(before['events'])} events" in result.output
    assert_error(
        client.get("/api/v1/events?after=0&wait=0", headers=world.op), 410, "cursor_expired"
    )
    head = client.get("/api/v1/events?wait=0", headers=world.op).json()
    assert head == {"events": [], "cursor": before["cursor"]}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHATDESK_ENV", "prod"),
        ("CHATDESK_PORT", "eighty"),
        ("CHATDESK_TRUSTED_PROXIES", "the-proxy"),
        ("CHATDESK_RATE_LIMIT_LOGIN_IP", "lots"),
    ],
)
def test_an_invalid_setting_is_one_clear_line_and_a_failure(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    for command in (["serve"], ["migrate"], ["purge"], ["demo"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, (command, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, result.output
        assert lines[0].startswith(f"error: invalid setting: {name}:"), lines
        assert "Traceback" not in result.output
