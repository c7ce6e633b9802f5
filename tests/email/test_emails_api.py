"""The emails API: the outbox's email jobs by state for admins and owners, and sending a
failed one again, up to a real SMTP server (aiosmtpd on loopback) taking it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from chatdesk.actions.email import queue_email
from chatdesk.app import create_app
from chatdesk.db.batch import Unit
from chatdesk.db.runner import Database
from chatdesk.jobs.outbox import Outcome, record_outcomes
from chatdesk.settings import Settings
from tests.email.conftest import Sink, email_settings, failed_email
from tests.factories import (
    Operator,
    add_operator,
    bearer,
    csrf,
    login,
    make_world,
    services_db,
    start_conversation,
    visitor_token,
)
from tests.jobs.conftest import add_webhook

MISSING = "msg_01jzzzzzzzzzzzzzzzzzzzzzzz"
parse_iso = datetime.fromisoformat


def _emails(client: TestClient, who: Operator, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/emails{query}", headers=csrf(who))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["emails"]
    return found


def _delivered_email(db: Database, payload: dict[str, Any]) -> str:
    job_id: str = db.write_sync(_deliver, payload)
    return job_id


def _deliver(unit: Unit, payload: dict[str, Any]) -> str:
    job_id = queue_email(unit, payload)
    assert record_outcomes(unit, [Outcome(job_id, "email", 0, "delivered")]) == 1
    return job_id


def test_only_admins_and_owners_see_and_resend_emails(client: TestClient) -> None:
    world = make_world(client)
    db = services_db(client)
    job_id = failed_email(
        db, {"template": "transcript", "conversation_id": world.conversation["id"]}
    )
    resend = f"/api/v1/emails/{job_id}/resend"
    owner_headers = csrf(world.owner)
    client.cookies.clear()
    for method, path in (("GET", "/api/v1/emails"), ("POST", resend)):
        anonymous = client.request(method, path)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json()["error"]["code"] == "unauthorized"
    agent = login(client, add_operator(db, "agent"))
    for method, path in (("GET", "/api/v1/emails"), ("POST", resend)):
        refused = client.request(method, path, headers=csrf(agent))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
    admin = login(client, add_operator(db, "admin"))
    assert [e["id"] for e in _emails(client, admin)] == [job_id]
    # This server sends no email: nothing to resend with (the job stays as it was).
    off = client.post(resend, headers=csrf(admin))
    assert off.status_code == 409, off.text
    assert "CHATDESK_SMTP_URL" in off.json()["error"]["message"]
    login(client, world.owner)
    listed = client.get("/api/v1/emails", headers=owner_headers).json()
    assert listed["email_enabled"] is False
    assert [(e["id"], e["status"]) for e in listed["emails"]] == [(job_id, "failed")]


def test_the_list_by_state_with_recipient_and_subject_and_never_a_note(client: TestClient) -> None:
    world = make_world(client)
    db = services_db(client)
    owner = world.owner
    cid = world.conversation["id"]
    jane = add_operator(db, "agent", name="Jane Doe", email="jdoe@example.com")
    with_email = visitor_token(client, world.site["site_key"], name="Ann", email="ann@example.org")
    ann = start_conversation(client, with_email, "Where is my parcel?")["conversation"]
    note = client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"body": "@Jane Doe SECRET refund plan", "private": True, "client_msg_id": "n1"},
        headers=csrf(owner),
    )
    assert note.status_code == 201, note.text
    transcript = failed_email(db, {"template": "transcript", "conversation_id": ann["id"]})
    mention = failed_email(
        db,
        {
            "template": "mention",
            "conversation_id": cid,
            "message_id": note.json()["id"],
            "operator_id": jane.id,
        },
        error="the SMTP server answered 554",
        status_code=554,
        attempts=3,
    )
    gone = failed_email(
        db, {"template": "replies", "conversation_id": "01jzzzzzzzzzzzzzzzzzzzzzzz"}
    )
    delivered = _delivered_email(db, {"template": "offline_ack", "conversation_id": ann["id"]})
    hook = add_webhook(client, owner, "https://hooks.example.com/in")  # not an email
    assert hook["id"]

    failed = _emails(client, owner)
    assert [e["id"] for e in failed] == [gone, mention, transcript]  # newest first
    by_id = {e["id"]: e for e in failed}
    assert by_id[transcript] | {"created_at": "", "updated_at": ""} == {
        "id": transcript,
        "kind": "transcript",
        "to": "ann@example.org",
        "subject": "Your conversation with Shop",
        "conversation_id": ann["id"],
        "status": "failed",
        "attempts": 1,
        "last_status_code": 550,
        "last_error": "the recipient was refused (550)",
        "created_at": "",
        "updated_at": "",
        "next_attempt_at": None,
        "delivered_at": None,
    }
    assert by_id[transcript]["updated_at"] >= by_id[transcript]["created_at"]
    assert by_id[mention]["to"] == "jdoe@example.com"
    assert by_id[mention]["subject"] == "[Shop] You were mentioned: Vera Visitor"
    assert by_id[mention]["attempts"] == 3 and by_id[mention]["last_status_code"] == 554
    assert by_id[gone]["to"] is None and by_id[gone]["subject"] is None
    assert by_id[gone]["conversation_id"] is None and by_id[gone]["kind"] == "replies"
    response = client.get("/api/v1/emails", headers=csrf(owner))
    assert "SECRET" not in response.text and "refund" not in response.text

    [sent] = _emails(client, owner, "?status=delivered")
    assert sent["id"] == delivered and sent["updated_at"] == sent["delivered_at"]
    assert sent["to"] == "ann@example.org" and sent["kind"] == "offline_ack"
    assert _emails(client, owner, "?status=pending") == []
    assert [e["id"] for e in _emails(client, owner, "?status=failed&limit=2")] == [gone, mention]


@contextmanager
def count_statements(client: TestClient) -> Iterator[list[str]]:
    """The statements the readers run meanwhile."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = services_db(client).read_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_the_list_costs_the_same_statements_however_many_emails(settings: Settings) -> None:
    # The hub's and the worker's periodic reads share the read engine: slowed right down,
    # only the request's own statements are counted.
    quiet = settings.model_copy(update={"event_poll_seconds": 3600.0, "job_poll_seconds": 3600.0})
    with TestClient(create_app(quiet)) as client:
        world = make_world(client)
        db = services_db(client)

        def add_emails(count: int) -> None:
            for i in range(count):
                token = visitor_token(client, world.site["site_key"], email=f"v{i}@example.org")
                cid = start_conversation(client, token)["conversation"]["id"]
                watcher = add_operator(db, "agent")
                failed_email(db, {"template": "transcript", "conversation_id": cid})
                failed_email(
                    db,
                    {"template": "unanswered", "conversation_id": cid, "operator_id": watcher.id},
                )

        def cost() -> int:
            client.get("/api/v1/emails", headers=csrf(world.owner))  # warm the pool
            with count_statements(client) as statements:
                listed = _emails(client, world.owner)
            assert all(email["to"] for email in listed)
            return len(statements)

        add_emails(1)
        few = cost()
        add_emails(6)
        assert cost() == few


@pytest.mark.parametrize(
    "query",
    [
        "status=sent",
        "status=",
        "status=FAILED",
        "limit=0",
        "limit=201",
        "limit=x",
        "limit=-1",
        "limit=1.5",
    ],
)
def test_bad_query_values_are_422(client: TestClient, query: str) -> None:
    owner = login(client, add_operator(services_db(client), "owner"))
    response = client.get(f"/api/v1/emails?{query}", headers=csrf(owner))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


def test_resend_refuses_what_is_not_a_failed_email(settings: Settings) -> None:
    on = email_settings(settings, "smtp://127.0.0.1:9", job_poll_seconds=30)
    with TestClient(create_app(on)) as client:
        world = make_world(client)
        db = services_db(client)
        owner = world.owner
        payload = {"template": "transcript", "conversation_id": world.conversation["id"]}
        delivered = _delivered_email(db, payload)
        hook = add_webhook(client, owner, "https://hooks.example.com/in")
        start_conversation(client, visitor_token(client, world.site["site_key"]))
        deliveries: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while not deliveries and time.monotonic() < deadline:
            path = f"/api/v1/webhooks/{hook['id']}/deliveries"
            deliveries = client.get(path, headers=csrf(owner)).json()["deliveries"]
            time.sleep(0.02)
        assert deliveries, "no webhook delivery was queued"
        for missing in (MISSING, deliveries[0]["id"], "nope"):
            response = client.post(f"/api/v1/emails/{missing}/resend", headers=csrf(owner))
            assert response.status_code == 404, (missing, response.text)
            assert response.json()["error"]["code"] == "not_found"
        again = client.post(f"/api/v1/emails/{delivered}/resend", headers=csrf(owner))
        assert again.status_code == 409, again.text
        assert again.json()["error"]["details"] == {"status": "delivered"}
        # To a visitor with an address (one without would be "sent" at once: nothing to
        # send), so the job stays pending while the worker retries port 9.
        token = visitor_token(client, world.site["site_key"], email="ann@example.org")
        cid = start_conversation(client, token)["conversation"]["id"]
        failed = failed_email(db, {"template": "transcript", "conversation_id": cid})
        first = client.post(f"/api/v1/emails/{failed}/resend", headers=csrf(owner))
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "pending" and first.json()["attempts"] == 0
        # Pending now (the worker is trying port 9, or about to): not again.
        second = client.post(f"/api/v1/emails/{failed}/resend", headers=csrf(owner))
        assert second.status_code == 409, second.text
        assert second.json()["error"]["details"]["status"] == "pending"
        entries = client.get("/api/v1/audit-log?action=email.resend", headers=csrf(owner))
        assert [e["target_id"] for e in entries.json()["entries"]] == [failed]


def _wait_for_status(client: TestClient, owner: Operator, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        found = _emails(client, owner, f"?status={status}")
        if found or time.monotonic() > deadline:
            assert found, f"no {status} email"
            return found[0]
        time.sleep(0.05)


def test_a_refused_email_is_sent_after_resend(settings: Settings, smtp_sink: Sink) -> None:
    # The worker looks for due jobs only every 30 s: what is sent within seconds was
    # sent because something woke it.
    on = email_settings(settings, smtp_sink.url, job_poll_seconds=30)
    smtp_sink.handler.refuse = "550 5.1.1 Mailbox unavailable"
    with TestClient(create_app(on)) as client:
        db = services_db(client)
        owner = login(client, add_operator(db, "owner"))
        site = {"name": "Shop", "allowed_origins": ["https://shop.example.com"]}
        made = client.post("/api/v1/sites", json=site, headers=csrf(owner)).json()
        token = visitor_token(client, made["site_key"], name="Vera", email="vera@example.org")
        cid = start_conversation(client, token, "Do you ship to Norway?")["conversation"]["id"]
        asked = client.post(f"/api/v1/widget/conversations/{cid}/transcript", headers=bearer(token))
        assert asked.status_code == 202
    # A restarted server's worker looks at once: it sends the transcript, which the
    # server refuses for good (5xx).
    with TestClient(create_app(on)) as client:
        login(client, owner)
        failed = _wait_for_status(client, owner, "failed")
        assert failed["kind"] == "transcript" and failed["to"] == "vera@example.org"
        assert failed["last_status_code"] == 550 and failed["attempts"] == 1
        assert failed["last_error"] == "the recipient was refused (550)"
        assert failed["subject"] == "Your conversation with Shop"
        # When it failed: after it was queued (before the restart), and not later than now.
        queued, failed_at = (parse_iso(failed[k]) for k in ("created_at", "updated_at"))
        assert queued < failed_at <= datetime.now(UTC)
        assert smtp_sink.received == []

        smtp_sink.handler.refuse = None
        resent = client.post(f"/api/v1/emails/{failed['id']}/resend", headers=csrf(owner))
        assert resent.status_code == 202, resent.text
        assert resent.json()["id"] == failed["id"] and resent.json()["status"] == "pending"
        [mail] = smtp_sink.handler.wait_for(1, timeout=10)
        assert mail.rcpt_tos == ["vera@example.org"]
        assert mail.message["Message-ID"].startswith(f"<{failed['id']}.transcript@")
        sent = _wait_for_status(client, owner, "delivered")
        assert sent["id"] == failed["id"] and sent["attempts"] == 1
        assert sent["last_error"] is None and sent["last_status_code"] is None
        assert _emails(client, owner) == []
        [entry] = client.get("/api/v1/audit-log?action=email.resend", headers=csrf(owner)).json()[
            "entries"
        ]
        assert entry["target_type"] == "email" and entry["target_id"] == failed["id"]
        assert entry["details"]["kind"] == "transcript" and entry["details"]["attempts"] == 1
    assert len(smtp_sink.received) == 1
