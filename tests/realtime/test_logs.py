"""What a login and a whole conversation leave in the logs: structure, and no secrets."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import structlog

from tests.factories import Operator, add_operator, bearer, csrf, login
from tests.realtime.conftest import Live, poll, start_chat, visitor_session, wait_until

pytestmark = pytest.mark.live


class Capture(logging.Handler):
    """Renders records exactly as the app's own root handler does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.getLogger().handlers[0].formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # httpx logs the *test client's* requests in this process; they are not server lines.
        if record.name != "httpx":
            self.lines.append(self.format(record))


@contextmanager
def captured() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def test_login_and_conversation_leave_no_secrets_in_logs(live: Live) -> None:
    password = "Tr0ub4dor&3-" + secrets.token_hex(6)
    wrong_password = "Wr0ng-P4ss-" + secrets.token_hex(6)
    owner = add_operator(live.db, "owner")
    secrets_seen: list[str] = []
    bodies = [f"my card is 4111-{secrets.token_hex(4)}" for _ in range(4)]
    with captured() as capture, live.client() as http:
        # A password set over the API, a failed login, then the real one.
        admin = login(http, owner)
        made = http.post(
            "/api/v1/operators",
            json={
                "email": "casey@example.com",
                "name": "Casey",
                "role": "agent",
                "password": password,
            },
            headers=csrf(admin),
        )
        assert made.status_code == 201, made.text
        bad = http.post(
            "/api/v1/auth/login", json={"email": "casey@example.com", "password": wrong_password}
        )
        assert bad.status_code == 401
        with live.client() as agent_http:
            agent = login(
                agent_http, Operator(made.json()["id"], "casey@example.com", password, "agent")
            )
            secrets_seen += [agent_http.cookies["chatdesk_session"], agent.csrf_token or ""]
        secrets_seen += [http.cookies["chatdesk_session"], admin.csrf_token or ""]
        site = http.post(
            "/api/v1/sites",
            json={"name": "Shop", "allowed_origins": ["https://shop.example.com"]},
            headers=csrf(admin),
        ).json()
        token = http.post("/api/v1/api-tokens", json={"name": "CRM"}, headers=csrf(admin)).json()[
            "token"
        ]
        listed = http.get("/api/v1/conversations", headers=bearer(token))
        assert listed.status_code == 200
        visitor = visitor_session(http, site["site_key"], name="Vera", email="vera@example.com")
        conversation_id = start_chat(http, visitor, bodies[0])["conversation"]["id"]
        reply = http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"body": bodies[1], "client_msg_id": "r1"},
            headers=csrf(admin),
        )
        assert reply.status_code == 201
        note = http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"body": bodies[2], "client_msg_id": "n1", "private": True},
            headers=csrf(admin),
        )
        assert note.status_code == 201
        answer = http.post(
            f"/api/v1/widget/conversations/{conversation_id}/messages",
            json={"body": bodies[3], "client_msg_id": "v2"},
            headers=bearer(visitor),
        )
        assert answer.status_code == 201
        # Rejected input carrying a body and a token must not be echoed into the log either.
        too_long = http.post(
            f"/api/v1/widget/conversations/{conversation_id}/messages",
            json={"body": bodies[0] * 1000, "client_msg_id": "v3"},
            headers=bearer(visitor),
        )
        assert too_long.status_code in (413, 422)
        broken = http.post(
            "/api/v1/auth/login",
            content=f'{{"email": "x@example.com", "password": "{wrong_password}"',
            headers={"Content-Type": "application/json"},
        )
        assert broken.status_code in (400, 422)
        wrong_token = http.get("/api/v1/widget/conversations", headers=bearer(visitor + "x"))
        assert wrong_token.status_code == 401
        assert poll(http, "/api/v1/widget/events", bearer(visitor), 0)["events"]
        out = http.post("/api/v1/auth/logout", headers=csrf(admin))
        assert out.status_code == 204
    secrets_seen += [password, wrong_password, token, visitor, *bodies]
    text = "\n".join(capture.lines)
    for secret in secrets_seen:
        assert secret and secret not in text, f"{secret[:6]}… leaked into the logs"

    requests = [json.loads(line) for line in capture.lines if '"event": "request"' in line]
    assert len(requests) >= 15
    for line in requests:
        assert {"request_id", "route", "status", "duration_ms", "method"} <= line.keys()
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    routes = {(r["route"], r["status"]) for r in requests}
    assert ("/api/v1/auth/login", 401) in routes
    assert ("/api/v1/widget/conversations/{conversation_id}/messages", 201) in routes
    assert len({r["request_id"] for r in requests}) == len(requests)
    assert any(r["principal"] and r["principal"].startswith("visitor:") for r in requests)


def test_request_id_is_echoed_and_logged(live: Live) -> None:
    with captured() as capture, live.client() as http:
        response = http.get("/healthz", headers={"X-Request-ID": "trace-42.a_b"})
        forged = http.get("/healthz", headers={"X-Request-ID": "bad id\twith tab"})
        # Each request's line is written as it ends, just after its response was sent.
        wait_until(
            lambda: sum('"event": "request"' in line for line in capture.lines) >= 2,
            what="both requests' lines",
        )
    assert response.headers["x-request-id"] == "trace-42.a_b"
    assert forged.headers["x-request-id"] != "bad id\twith tab"
    logged = [json.loads(line) for line in capture.lines if '"event": "request"' in line]
    assert [r["request_id"] for r in logged] == [
        "trace-42.a_b",
        forged.headers["x-request-id"],
    ]


NASTY = 'Eve\r\n{"event": "request", "level": "critical"}\x1b[31mred\x1b[0m\x00end'


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_control_characters_make_one_escaped_record(
    live_factory: Callable[..., Live], fmt: str
) -> None:
    # No slow-request lines: on a loaded machine the request could write a second one.
    live = live_factory(log_format=fmt, slow_request_ms=0)
    with captured() as capture:
        structlog.get_logger("chatdesk.test").info("visitor renamed", name=NASTY)
        with live.client() as http:
            response = http.get("/api/v1/widget/no%0D%0Aforged%1B[31mline")
            assert response.status_code == 404
        # The request's line is written as it ends, just after its response was sent.
        wait_until(
            lambda: any("forged" in line for line in capture.lines), what="the request's line"
        )
    mine = [line for line in capture.lines if "visitor renamed" in line]
    assert len(mine) == 1
    [paths] = [line for line in capture.lines if "forged" in line]
    for line in (mine[0], paths):
        assert "\r" not in line and "\n" not in line and "\x1b" not in line and "\x00" not in line
    if fmt == "console":
        # The console renderer reprs values, so the escapes' backslashes are doubled.
        assert "x0d" in mine[0] and "x0a" in mine[0] and "x1b[31m" in mine[0]
    else:
        record = json.loads(mine[0])
        assert record["name"].startswith("Eve\\x0d\\x0a")
        assert "\\x1b" in record["name"]
