"""Password links by email (ADR 0023), over HTTP with a real SMTP server: a reset asked
for by email, and the invitation of an operator created without a password."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from chatdesk.app import create_app
from chatdesk.db.batch import Unit
from chatdesk.db.tables import audit_log, operator_tokens, outbox
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.email.conftest import Received, Sink, email_settings, plain_sink
from tests.factories import Operator, add_operator, csrf, login, services_db
from tests.security.arena import new_session

NEW_PASSWORD = "a-brand-new-password"


@pytest.fixture
def sink() -> Iterator[Sink]:
    yield from plain_sink()


@pytest.fixture
def mailing(settings: Settings, sink: Sink) -> Iterator[TestClient]:
    """The app with email on, its outbox polled often."""
    on = email_settings(settings, sink.url, job_poll_seconds=0.2)
    with TestClient(create_app(on)) as client:
        yield client


def _text(mail: Received) -> str:
    part = mail.message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _link_token(mail: Received) -> str:
    """The token of the email's /admin/reset link (the same in both parts)."""
    text = _text(mail)
    links = re.findall(r"https://chat\.example\.com/admin/reset\?token=[\w%-]+", text)
    assert len(links) == 1, text
    html = mail.message.get_body(preferencelist=("html",))
    assert html is not None and links[0] in str(html.get_content())
    return parse_qs(urlsplit(links[0]).query)["token"][0]


def _sign_in(client: TestClient, email: str, password: str) -> Any:
    client.cookies.clear()
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _ask(client: TestClient, email: str) -> Any:
    return client.post("/api/v1/auth/password-reset", json={"email": email})


def _confirm(client: TestClient, token: str, password: str = NEW_PASSWORD) -> Any:
    return client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": password}
    )


def _email_jobs(client: TestClient) -> list[str]:
    def read(conn: Any) -> list[str]:
        return [str(r.status) for r in conn.execute(select(outbox.c.status)).all()]

    return services_db(client).read_sync(read)


def _settle(client: TestClient) -> None:
    """Wait until the outbox has no pending job (every queued email was handled)."""
    deadline = time.monotonic() + 15
    while "pending" in _email_jobs(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "pending" not in _email_jobs(client)


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    mailing: TestClient, sink: Sink
) -> None:
    known = add_operator(services_db(mailing), "agent")
    unknown = _ask(mailing, "nobody@example.com")
    assert unknown.status_code == 202, unknown.text
    assert _email_jobs(mailing) == []
    asked = _ask(mailing, known.email.upper())
    assert asked.status_code == 202
    assert (asked.content, asked.headers.get("content-type")) == (
        unknown.content,
        unknown.headers.get("content-type"),
    )
    [mail] = sink.handler.wait_for(1)
    assert mail.rcpt_tos == [known.email]
    assert mail.message["Subject"] == "Reset your chatdesk password"
    assert "List-Unsubscribe" not in mail.message
    # Both requests are in the audit log; only the operator's names them.
    rows = services_db(mailing).read_sync(
        lambda conn: conn.execute(
            select(audit_log.c.target_id, audit_log.c.details).where(
                audit_log.c.action == "auth.password_reset_request"
            )
        ).all()
    )
    assert sorted((r.target_id or "", r.details["known"]) for r in rows) == sorted(
        [("", False), (known.id, True)]
    )


def test_the_link_works_once_and_ends_every_session(mailing: TestClient, sink: Sink) -> None:
    operator = add_operator(services_db(mailing), "agent")
    other = new_session(mailing, operator)
    assert mailing.get("/api/v1/auth/me", headers=other.headers).status_code == 200
    assert _ask(mailing, operator.email).status_code == 202
    token = _link_token(sink.handler.wait_for(1)[0])
    # Only the token's hash is stored, and the job names the row, not the token.
    stored = services_db(mailing).read_sync(
        lambda conn: conn.execute(select(operator_tokens.c.token_hash)).scalars().all()
    )
    assert len(stored) == 1 and token not in stored[0]
    payloads = services_db(mailing).read_sync(
        lambda conn: conn.execute(select(outbox.c.payload)).scalars().all()
    )
    assert token not in str(payloads)

    assert _confirm(mailing, token, "short").status_code == 422  # the password rules
    assert _confirm(mailing, token).status_code == 204
    mailing.cookies.clear()
    assert_error(mailing.get("/api/v1/auth/me", headers=other.headers), 401, "unauthorized")
    assert_error(_sign_in(mailing, operator.email, operator.password), 401, "unauthorized")
    assert _sign_in(mailing, operator.email, NEW_PASSWORD).status_code == 200
    # Once only.
    assert_error(_confirm(mailing, token, "another-long-password"), 400, "token_invalid")
    assert _sign_in(mailing, operator.email, NEW_PASSWORD).status_code == 200
    actions = services_db(mailing).read_sync(
        lambda conn: (
            conn.execute(select(audit_log.c.action).where(audit_log.c.target_id == operator.id))
            .scalars()
            .all()
        )
    )
    assert "auth.password_reset" in actions


def _expire(unit: Unit) -> None:
    unit.conn.execute(update(operator_tokens).values(expires_at=unit.now - timedelta(seconds=1)))


def test_an_expired_forged_or_replaced_link_is_refused_alike(
    mailing: TestClient, sink: Sink
) -> None:
    operator = add_operator(services_db(mailing), "agent")
    assert _ask(mailing, operator.email).status_code == 202
    first = _link_token(sink.handler.wait_for(1)[0])
    assert _ask(mailing, operator.email).status_code == 202
    second = _link_token(sink.handler.wait_for(2)[1])
    assert first != second
    replaced = assert_error(_confirm(mailing, first), 400, "token_invalid")
    forged = assert_error(_confirm(mailing, second[:-4] + "AAAA"), 400, "token_invalid")
    assert replaced == forged
    services_db(mailing).write_sync(_expire)
    assert assert_error(_confirm(mailing, second), 400, "token_invalid") == forged
    assert _sign_in(mailing, operator.email, operator.password).status_code == 200
    assert _confirm(mailing, "x" * 201).status_code == 422


def test_a_deactivated_operator_gets_no_link(mailing: TestClient, sink: Sink) -> None:
    owner = login(mailing, add_operator(services_db(mailing), "owner"))
    agent = add_operator(services_db(mailing), "agent")
    off = mailing.patch(
        f"/api/v1/operators/{agent.id}", json={"active": False}, headers=csrf(owner)
    )
    assert off.status_code == 200, off.text
    assert _ask(mailing, agent.email).status_code == 202
    assert _email_jobs(mailing) == []


def test_without_email_the_answer_is_the_same(client: TestClient) -> None:
    operator = add_operator(services_db(client), "agent")
    assert _ask(client, operator.email).status_code == 202
    assert _ask(client, "nobody@example.com").status_code == 202
    assert _email_jobs(client) == []


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": "a", "extra": 1}])
def test_a_bad_request_body_is_refused(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/api/v1/auth/password-reset", json=body), 422, "validation_error")


def test_reset_requests_are_rate_limited_per_email(settings: Settings, sink: Sink) -> None:
    on = email_settings(settings, sink.url, rate_limits="on", job_poll_seconds=0.2)
    with TestClient(create_app(on)) as client:
        operator = add_operator(services_db(client), "agent")
        for _ in range(5):
            assert _ask(client, operator.email).status_code == 202
        limited = _ask(client, operator.email)
        assert_error(limited, 429, "rate_limited")
        assert "Retry-After" in limited.headers
        # Another address still asks (until the per-address limit).
        assert _ask(client, "someone-else@example.com").status_code == 202


def test_reset_requests_are_rate_limited_per_address(settings: Settings) -> None:
    on = Settings.model_validate(
        {**settings.model_dump(), "rate_limits": "on", "rate_limit_password_reset_ip": "3/hour"}
    )
    with TestClient(create_app(on)) as client:
        for n in range(3):
            assert _ask(client, f"n{n}@example.com").status_code == 202
        assert_error(_ask(client, "n9@example.com"), 429, "rate_limited")
        assert_error(_confirm(client, "cdl_whatever"), 429, "rate_limited")


def _invite(client: TestClient, owner: Operator, email: str) -> Any:
    return client.post(
        "/api/v1/operators",
        json={"email": email, "name": "Ivy Invited", "role": "agent"},
        headers=csrf(owner),
    )


def test_an_invited_operator_sets_a_password_with_the_emailed_link(
    mailing: TestClient, sink: Sink
) -> None:
    owner = login(mailing, add_operator(services_db(mailing), "owner", name="Olga Owner"))
    made = _invite(mailing, owner, "ivy@example.com")
    assert made.status_code == 201, made.text
    assert made.json()["invitation"] == "sent"
    assert made.json()["email"] == "ivy@example.com"
    assert made.json()["invited"] is True
    [mail] = sink.handler.wait_for(1)
    assert mail.rcpt_tos == ["ivy@example.com"]
    assert mail.message["Subject"] == "You are invited to chatdesk"
    assert "Olga Owner invited you" in _text(mail)
    token = _link_token(mail)
    # No password signs them in before they choose one, not even an empty-looking one.
    for guess in ("!invited", "invited", NEW_PASSWORD):
        assert_error(_sign_in(mailing, "ivy@example.com", guess), 401, "unauthorized")
    assert _confirm(mailing, token).status_code == 204
    signed = _sign_in(mailing, "ivy@example.com", NEW_PASSWORD)
    assert signed.status_code == 200, signed.text
    assert signed.json()["operator"]["must_change_password"] is False
    assert "invited" not in signed.json()["operator"]
    assert_error(_confirm(mailing, token, "another-long-password"), 400, "token_invalid")


def test_an_invitation_link_expires(mailing: TestClient, sink: Sink) -> None:
    owner = login(mailing, add_operator(services_db(mailing), "owner"))
    assert _invite(mailing, owner, "late@example.com").status_code == 201
    token = _link_token(sink.handler.wait_for(1)[0])
    services_db(mailing).write_sync(_expire)
    assert_error(_confirm(mailing, token), 400, "token_invalid")
    assert_error(_sign_in(mailing, "late@example.com", NEW_PASSWORD), 401, "unauthorized")


def test_an_invitation_expired_before_it_is_sent_sends_nothing(
    settings: Settings, sink: Sink
) -> None:
    on = email_settings(settings, sink.url, job_poll_seconds=60)
    with TestClient(create_app(on)) as client:
        owner = login(client, add_operator(services_db(client), "owner"))
        assert _invite(client, owner, "slow@example.com").status_code == 201
        services_db(client).write_sync(_expire)
    # The worker stopped with the app; a new one sends what is pending at start.
    with TestClient(create_app(email_settings(settings, sink.url, job_poll_seconds=0.2))) as again:
        _settle(again)
    assert sink.received == []


def test_without_email_an_invitation_says_it_was_not_sent(client: TestClient) -> None:
    owner = login(client, add_operator(services_db(client), "owner"))
    made = _invite(client, owner, "quiet@example.com")
    assert made.status_code == 201, made.text
    assert made.json()["invitation"] == "not_sent"
    assert _email_jobs(client) == []
    assert_error(_sign_in(client, "quiet@example.com", NEW_PASSWORD), 401, "unauthorized")
    # The admin gives them a temporary password instead.
    client.cookies.clear()
    login(client, owner)
    temporary = client.post(
        f"/api/v1/operators/{made.json()['id']}/password", json={}, headers=csrf(owner)
    )
    assert temporary.status_code == 200, temporary.text
    signed = _sign_in(client, "quiet@example.com", temporary.json()["temporary_password"])
    assert signed.status_code == 200
    assert signed.json()["operator"]["must_change_password"] is True


def test_with_a_password_no_invitation_is_sent(mailing: TestClient, sink: Sink) -> None:
    owner = login(mailing, add_operator(services_db(mailing), "owner"))
    made = mailing.post(
        "/api/v1/operators",
        json={"email": "pat@example.com", "name": "Pat", "password": NEW_PASSWORD},
        headers=csrf(owner),
    )
    assert made.status_code == 201, made.text
    assert "invitation" not in made.json()
    _settle(mailing)
    assert sink.received == []
    assert _sign_in(mailing, "pat@example.com", NEW_PASSWORD).status_code == 200


def test_the_console_pages_are_served_to_anyone(client: TestClient) -> None:
    login_page = client.get("/admin/login")
    assert 'href="/admin/forgot"' in login_page.text
    forgot = client.get("/admin/forgot")
    assert forgot.status_code == 200 and 'id="forgot-form"' in forgot.text
    reset = client.get("/admin/reset?token=cdl_anything")
    assert reset.status_code == 200 and 'id="reset-form"' in reset.text
    assert "cdl_anything" not in reset.text  # the script reads it from the address
    # The page may load nothing that could carry the token on in a Referer.
    assert reset.headers["Referrer-Policy"] == "no-referrer"
    assert reset.headers["Cache-Control"] == "no-store"
