"""Logs: control characters and forged lines in names, messages and paths stay inside one
escaped record; no password, token, cookie, CSRF token or Authorization value is written."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.db.runner import Database
from chatdesk.jobs.signing import new_secret
from chatdesk.logs import redact
from chatdesk.settings import Settings
from tests.conftest import LiveServer
from tests.factories import add_operator, bearer, csrf, login, services_db
from tests.log_guard import LineRecorder, offending

FORGED = '\n{"level":"error","event":"forged"}'
NASTY = f"Eve\r\nINFO forged line\x1b[31mred\x1b[0m\u2028{FORGED}\x00"


@pytest.fixture
def recorder() -> Iterator[LineRecorder]:
    """Every line chatdesk writes from now on, as its own formatter renders it."""
    handler = LineRecorder()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _for_request(lines: list[str], request_id: str) -> list[str]:
    return [line for line in lines if request_id in line]


def _assert_one_clean_record(lines: list[str], request_id: str) -> None:
    """One access record for the request (a request slower than a second also gets a
    ``slow_request`` line: a loaded machine makes some), and every line of it clean."""
    mine = _for_request(lines, request_id)
    access = [line for line in mine if "slow_request" not in line]
    assert len(access) == 1, mine
    for line in mine:
        assert "\n" not in line and "\r" not in line and "\x1b" not in line
        assert "\x00" not in line


def _assert_no_forgery(lines: list[str]) -> None:
    for line in lines:
        for physical in line.splitlines():
            assert "\x1b" not in physical
            try:
                parsed = json.loads(physical)
            except ValueError:
                continue
            assert parsed.get("event") != "forged", physical


def _nasty_requests(client: TestClient, site_key: str) -> list[str]:
    """Send the nasty text as a name, a message, a path and a query; return request ids."""
    ids = []

    def rid() -> dict[str, str]:
        ids.append(secrets.token_hex(8))
        return {"X-Request-ID": ids[-1]}

    made = client.post(
        "/api/v1/widget/sessions",
        json={"site_key": site_key, "name": NASTY.replace("\x00", "")},
        headers=rid(),
    )
    assert made.status_code == 201
    token = made.json()["visitor_token"]
    started = client.post(
        "/api/v1/widget/conversations",
        json={"body": NASTY.replace("\x00", ""), "client_msg_id": "nasty"},
        headers={**bearer(token), **rid()},
    )
    assert started.status_code == 201
    client.patch(
        "/api/v1/widget/visitor", json={"name": NASTY}, headers={**bearer(token), **rid()}
    )  # refused (NUL), and still one line
    encoded = "%0D%0A%7B%22level%22%3A%22error%22%2C%22event%22%3A%22forged%22%7D%1B%5B31m"
    client.get(f"/api/v1/widget/{encoded}", headers=rid())
    client.get(f"/api/v1/conversations?q={encoded}", headers=rid())
    # A request id that tries the same is replaced, not echoed into the log.
    bad = client.get("/healthz", headers={"X-Request-ID": "a\x1b[31mb"})
    assert bad.headers["x-request-id"] != "a\x1b[31mb"
    return ids


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_control_characters_cannot_forge_log_lines(
    settings: Settings, log_format: str, recorder: LineRecorder
) -> None:
    app = create_app(settings.model_copy(update={"log_format": log_format}))
    logging.getLogger().addHandler(recorder)  # create_app replaced the root handlers
    recorder.setFormatter(logging.getLogger().handlers[0].formatter)
    with TestClient(app) as client:
        owner = login(client, add_operator(services_db(client), "owner"))
        site = client.post("/api/v1/sites", json={"name": "S"}, headers=csrf(owner)).json()
        client.cookies.clear()
        ids = _nasty_requests(client, site["site_key"])
    assert len(ids) == 5
    for request_id in ids:
        _assert_one_clean_record(recorder.lines, request_id)
    _assert_no_forgery(recorder.lines)
    # Escaped, not dropped: the path is still there for whoever reads the log.
    assert any("x0d" in line and "x0a" in line and "forged" in line for line in recorder.lines)


def test_the_redactor_blanks_secrets_in_every_field() -> None:
    token = "cdv_" + secrets.token_urlsafe(32)
    signing = new_secret()
    line = redact(
        None,
        "error",
        {
            "event": f"got {token}",
            "password": "pw-hunter2hunter2hunter",
            "headers": {"authorization": "Bearer x", "cookie": "chatdesk_session=cds_x"},
            "path": f"/api/v1/widget/{token}",
            "values": [f"Bearer {token}", "fine"],
            "exception": f"Traceback ...\nValueError: bad token {token}",
            "hook": f"signed with {signing}",
        },
    )
    text = json.dumps(line)
    assert token not in text and "hunter2" not in text and "chatdesk_session=" not in text
    assert signing not in text and "whsec_" not in text
    assert line["values"][1] == "fine"


# -- a whole flow, with every secret it handles ------------------------------------------------


@pytest.fixture
def live(settings: Settings, live_server: LiveServer) -> Iterator[tuple[LiveServer, Database]]:
    db = Database(settings.database_url)
    db.start()
    try:
        yield live_server, db
    finally:
        db.stop()


@pytest.mark.live
def test_no_secret_reaches_the_log_in_a_full_flow(
    live: tuple[LiveServer, Database], recorder: LineRecorder
) -> None:
    server, db = live
    recorder.setFormatter(logging.getLogger().handlers[0].formatter)
    secrets_seen: list[str] = []
    owner = add_operator(db, "owner")
    secrets_seen.append(owner.password)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        # Sign-in failures first: the attempted password must not be logged either.
        wrong = http.post(
            "/api/v1/auth/login", json={"email": owner.email, "password": "pw-WRONGwrongWRONG1"}
        )
        assert wrong.status_code == 401
        secrets_seen.append("pw-WRONGwrongWRONG1")
        login(http, owner)
        cookie = http.cookies["chatdesk_session"]
        assert owner.csrf_token
        secrets_seen += [cookie, owner.csrf_token]
        site = http.post("/api/v1/sites", json={"name": "S"}, headers=csrf(owner)).json()
        secrets_seen.append(site["identity_secret"])
        made = http.post(
            "/api/v1/api-tokens", json={"name": "ci", "role": "admin"}, headers=csrf(owner)
        )
        api_token = made.json()["token"]
        secrets_seen.append(api_token)
        assert http.get("/api/v1/sites", headers=bearer(api_token)).status_code == 200
        new_password = "pw-" + secrets.token_urlsafe(12)
        operator = http.post(
            "/api/v1/operators",
            json={"email": "a@example.com", "name": "A", "password": new_password},
            headers=csrf(owner),
        )
        assert operator.status_code == 201
        secrets_seen.append(new_password)
        # A validation error on a body holding a password does not echo it.
        refused = http.post(
            "/api/v1/operators",
            json={"email": "not-an-email", "name": "A", "password": new_password + "X"},
            headers=csrf(owner),
        )
        assert refused.status_code == 422 and new_password not in refused.text

        visitor = httpx.Client(base_url=server.url, timeout=10)
        with visitor:
            token = visitor.post(
                "/api/v1/widget/sessions", json={"site_key": site["site_key"]}
            ).json()["visitor_token"]
            secrets_seen.append(token)
            visitor.post(
                "/api/v1/widget/conversations",
                json={"body": "a private matter", "client_msg_id": "c1"},
                headers=bearer(token),
            )
            visitor.get("/api/v1/widget/events", params={"wait": 0}, headers=bearer(token))
            with visitor.stream(
                "GET",
                "/api/v1/widget/events",
                headers={**bearer(token), "Accept": "text/event-stream"},
            ) as stream:
                assert stream.status_code == 200
                next(stream.iter_lines())
            # Secrets in the wrong places: query strings, paths, broken headers.
            visitor.get(f"/api/v1/widget/visitor?token={token}&access_token={api_token}")
            visitor.get(f"/api/v1/widget/{token}")
            visitor.get("/api/v1/widget/visitor", headers={"Authorization": f"Basic {token}"})
            visitor.get("/api/v1/widget/visitor", headers=bearer(token[:-1]))
            visitor.get("/api/v1/auth/me", headers={"Cookie": f"chatdesk_session={cookie}x"})
            visitor.get("/api/v1/auth/me", headers={"X-CSRF-Token": owner.csrf_token})
        changed = http.post(
            "/api/v1/auth/password",
            json={"current_password": owner.password, "new_password": new_password + "Z"},
            headers=csrf(owner),
        )
        assert changed.status_code == 204
        secrets_seen.append(new_password + "Z")
        assert http.post("/api/v1/auth/logout", headers=csrf(owner)).status_code == 204

    lines = recorder.lines
    assert len(lines) > 20
    assert any("/api/v1/auth/login" in line for line in lines)  # the flow was logged
    assert offending(lines) == []
    for secret in secrets_seen:
        assert not [line for line in lines if secret in line], secret
    for line in lines:
        assert "a private matter" not in line  # message bodies are never logged


def test_logs_name_the_principal_not_its_credentials(
    client: TestClient, recorder: LineRecorder
) -> None:
    recorder.setFormatter(logging.getLogger().handlers[0].formatter)
    owner = login(client, add_operator(services_db(client), "owner"))
    client.get("/api/v1/auth/me", headers={"X-Request-ID": "who-am-i"})
    (line,) = _for_request(recorder.lines, "who-am-i")
    record: dict[str, Any] = json.loads(line)
    assert record["principal"] == f"operator:{owner.id}"
    assert record["status"] == 200 and record["route"] == "/api/v1/auth/me"
