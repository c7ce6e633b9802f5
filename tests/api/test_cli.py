"""The ``chatdesk`` command through typer's runner, against the test's database."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, update
from typer.testing import CliRunner

from chatdesk.cli import app
from chatdesk.db.tables import attachments
from chatdesk.ids import encode_id
from chatdesk.settings import Settings
from chatdesk.storage.local import LocalStore
from tests.api.expect import assert_error
from tests.api.world import api_world
from tests.event_loops import run_coroutine
from tests.factories import add_operator, csrf, login, services_db

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, settings: Settings) -> str:
    monkeypatch.setenv("CHATDESK_DATABASE_URL", database_url)
    assert settings.files_dir is not None
    monkeypatch.setenv("CHATDESK_FILES_DIR", settings.files_dir)  # the app's, as in production
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
    # A second run sets new passwords (it prints working ones): sessions begun with the
    # old ones end.
    assert client.get("/api/v1/conversations").status_code == 401
    renewed = re.search(r"alice@demo\.chatdesk\.local\s+password: (\S+)", again.output)
    assert renewed is not None and renewed.group(1) != found.group(1), again.output
    signed = client.post(
        "/api/v1/auth/login",
        json={"email": "alice@demo.chatdesk.local", "password": renewed.group(1)},
    )
    assert signed.status_code == 200
    assert len(client.get("/api/v1/conversations").json()["conversations"]) == 4


def _credentials(output: str, role: str) -> tuple[str, str]:
    found = re.search(rf"^\s+{role}\s+(\S+@\S+)\s+password: (\S+)$", output, re.MULTILINE)
    assert found is not None, output
    return found.group(1), found.group(2)


def test_demo_prints_an_owner_to_sign_in_as(cli_env: str, client: TestClient) -> None:
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    email, password = _credentials(first.output, "owner")
    signed = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert signed.status_code == 200
    assert signed.json()["operator"]["role"] == "owner"
    for role in ("admin", "agent"):
        other, other_password = _credentials(first.output, role)
        login = {"email": other, "password": other_password}
        answer = client.post("/api/v1/auth/login", json=login)
        assert answer.status_code == 200 and answer.json()["operator"]["role"] == role
    # Run again (make demo on an existing database): still an owner to sign in as.
    again = runner.invoke(app, ["demo"])
    assert again.exit_code == 0, again.output
    same_email, new_password = _credentials(again.output, "owner")
    assert same_email == email and new_password != password
    old = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert old.status_code == 401
    new = client.post("/api/v1/auth/login", json={"email": email, "password": new_password})
    assert new.status_code == 200 and new.json()["operator"]["role"] == "owner"


def test_demo_is_refused_in_production(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATDESK_ENV", "production")
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1
    assert "demo is off" in result.output and "password" not in result.output
    monkeypatch.setenv("CHATDESK_ENV", "development")
    monkeypatch.setenv("CHATDESK_DEMO_ENABLED", "false")
    assert runner.invoke(app, ["demo"]).exit_code == 1
    monkeypatch.delenv("CHATDESK_DEMO_ENABLED")
    allowed = runner.invoke(app, ["demo"])
    assert allowed.exit_code == 0 and "Demo site created" in allowed.output  # nothing before


def _printed_urls(output: str) -> set[str]:
    return {url.rstrip(".") for url in re.findall(r"https?://[^\s\"<>)]+", output)}


def test_printed_urls_come_from_public_url(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, client: TestClient
) -> None:
    monkeypatch.setenv("CHATDESK_PUBLIC_URL", "https://chat.example.com/")
    demo = runner.invoke(app, ["demo"])
    assert demo.exit_code == 0, demo.output
    assert _printed_urls(demo.output) == {
        "https://chat.example.com/demo",
        "https://chat.example.com/admin",
    }
    site = runner.invoke(app, ["create-site", "--name", "Shop", "--origin", "https://a.example"])
    assert site.exit_code == 0, site.output
    assert _printed_urls(site.output) == {"https://chat.example.com/widget.js"}
    # The demo page is served by chatdesk: the demo site allows chatdesk's own origin,
    # and a run at another address adds that one.
    monkeypatch.setenv("CHATDESK_PUBLIC_URL", "https://support.example.org:8443")
    again = runner.invoke(app, ["demo"])
    assert again.exit_code == 0, again.output
    assert "https://support.example.org:8443/demo" in again.output
    email, password = _credentials(again.output, "owner")
    client.post("/api/v1/auth/login", json={"email": email, "password": password})
    sites = client.get("/api/v1/sites").json()["sites"]
    demo_site = next(s for s in sites if s["name"] == "Demo shop")
    assert demo_site["allowed_origins"] == [
        "https://chat.example.com",
        "https://support.example.org:8443",
    ]


def test_printed_urls_without_public_url_use_host_and_port(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHATDESK_PUBLIC_URL", raising=False)
    for host, port, shown in (
        ("10.1.2.3", "9123", "http://10.1.2.3:9123"),
        ("::1", "9124", "http://[::1]:9124"),
        ("0.0.0.0", "9125", "http://127.0.0.1:9125"),  # noqa: S104 (never bound here)
    ):
        monkeypatch.setenv("CHATDESK_HOST", host)
        monkeypatch.setenv("CHATDESK_PORT", port)
        name = f"Shop {port}"
        site = runner.invoke(app, ["create-site", "--name", name, "--origin", "https://a.example"])
        assert site.exit_code == 0, site.output
        assert _printed_urls(site.output) == {f"{shown}/widget.js"}
        demo = runner.invoke(app, ["demo"])
        assert demo.exit_code == 0, demo.output
        assert _printed_urls(demo.output) == {f"{shown}/demo", f"{shown}/admin"}


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
    lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert "Exported" in result.output and f"{len(lines) - 2} rows" in result.output
    assert lines[0]["format"] == "chatdesk-export" and lines[-1] == {
        "end": {"rows": len(lines) - 2}
    }
    (exported,) = [line["r"] for line in lines if line.get("t") == "conversations"]
    assert exported["id"] == world.conversation["id"]
    bodies = [line["r"]["body"] for line in lines if line.get("t") == "messages"]
    assert bodies == ["Hello", "note ' OR 1=1 --"]


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


def test_purge_removes_attachments_never_sent_and_files_of_deleted_conversations(
    cli_env: str, client: TestClient, settings: Settings
) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    path = f"/api/v1/widget/conversations/{cid}/attachments"

    def upload(name: str) -> dict[str, Any]:
        files = {"file": (name, name.encode(), "text/plain")}
        response = client.post(path, files=files, headers=world.visitor)
        assert response.status_code == 201, response.text
        shape: dict[str, Any] = response.json()
        return shape

    stale, fresh, sent = upload("stale.txt"), upload("fresh.txt"), upload("sent.txt")
    first = client.get(f"/api/v1/conversations/{cid}/messages", headers=world.op).json()
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    engine = create_engine(cli_env)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(attachments)
                .where(attachments.c.id.in_([stale["id"], sent["id"]]))
                .values(created_at=two_days_ago)
            )
            # Carried by a message (as sending it with attachment_ids does).
            conn.execute(
                update(attachments)
                .where(attachments.c.id == sent["id"])
                .values(message_id=first["messages"][0]["id"])
            )
    finally:
        engine.dispose()
    # Files whose rows are gone with their conversation: one made two days ago (a file
    # and its thumbnail), and one just now (perhaps an upload whose row is being written).
    store = LocalStore(Path(str(settings.files_dir)))
    old_id = encode_id((int(two_days_ago.timestamp() * 1000) << 80) | 12345)
    new_id_ = encode_id((int(datetime.now(UTC).timestamp() * 1000) << 80) | 6789)
    site = world.site["id"]
    for key in (f"{site}/gone/{old_id}", f"{site}/gone/{old_id}.thumb", f"{site}/gone/{new_id_}"):
        run_coroutine(lambda key=key: store.put(key, b"x", "text/plain"))
    # An operator's picture is no attachment: it stays, however old its operator's id.
    run_coroutine(lambda: store.put(f"avatars/{old_id}", b"x", "image/webp"))

    result = runner.invoke(app, ["purge"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 attachments never sent and 2 files of deleted conversations" in result.output
    assert client.get(stale["url"]).status_code == 404
    assert client.get(fresh["url"]).content == b"fresh.txt"
    assert client.get(sent["url"]).content == b"sent.txt"
    left = run_coroutine(store.keys)
    assert f"{site}/gone/{new_id_}" in left and f"avatars/{old_id}" in left
    assert not any(old_id in key for key in left if not key.startswith("avatars/"))
    again = runner.invoke(app, ["purge"])
    assert "Removed 0 attachments never sent and 0 files" in again.output


def test_totp_reset_turns_two_factor_sign_in_off(cli_env: str, client: TestClient) -> None:
    owner = login(client, add_operator(services_db(client), "owner", email="lost@example.com"))
    made = client.post("/api/v1/auth/totp/setup", headers=csrf(owner)).json()
    code = pyotp.TOTP(made["secret"]).now()
    assert (
        client.post(
            "/api/v1/auth/totp/enable", json={"code": code}, headers=csrf(owner)
        ).status_code
        == 200
    )
    client.cookies.clear()
    signing_in = {"email": owner.email, "password": owner.password}
    assert_error(client.post("/api/v1/auth/login", json=signing_in), 401, "totp_required")

    result = runner.invoke(app, ["totp-reset", "--email", "LOST@example.com"])
    assert result.exit_code == 0, result.output
    assert "off for LOST@example.com" in result.output
    assert client.post("/api/v1/auth/login", json=signing_in).status_code == 200
    entries = client.get("/api/v1/audit-log").json()["entries"]
    (reset,) = [e for e in entries if e["action"] == "auth.totp_reset"]
    assert reset["target_id"] == owner.id and reset["operator_id"] is None

    again = runner.invoke(app, ["totp-reset", "--email", owner.email])
    assert again.exit_code == 0 and "nothing changed" in again.output
    unknown = runner.invoke(app, ["totp-reset", "--email", "nobody@example.com"])
    assert unknown.exit_code == 1 and "no operator has the email" in unknown.output
