"""Email end to end: a request queues the job in its unit, the app's worker sends it
through the outbox to a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from chatdesk.app import create_app
from chatdesk.db.tables import outbox
from chatdesk.settings import Settings
from tests.email.conftest import Sink, email_settings
from tests.factories import (
    add_operator,
    bearer,
    create_site,
    csrf,
    login,
    services_db,
    start_conversation,
    visitor_token,
)


def _text(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content())


def test_a_transcript_and_a_reply_digest_go_out_through_the_worker(
    settings: Settings, smtp_sink: Sink
) -> None:
    on = email_settings(settings, smtp_sink.url, email_away_seconds=10, job_poll_seconds=0.5)
    with TestClient(create_app(on)) as client:
        db = services_db(client)
        owner = login(client, add_operator(db, "owner"))
        site = create_site(client, owner)
        token = visitor_token(client, site["site_key"], email="vera@example.org")
        conversation = start_conversation(client, token)["conversation"]
        cid = conversation["id"]
        reply = client.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"body": "Your <b>order</b> ships today", "client_msg_id": "reply-1"},
            headers=csrf(owner),
        )
        assert reply.status_code == 201, reply.text
        note = client.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"body": "internal: refund later", "private": True, "client_msg_id": "n-1"},
            headers=csrf(owner),
        )
        assert note.status_code == 201, note.text
        asked = client.post(f"/api/v1/widget/conversations/{cid}/transcript", headers=bearer(token))
        assert asked.status_code == 202
        # The transcript at once; the digest of replies once the visitor has been away
        # CHATDESK_EMAIL_AWAY_SECONDS (10 s: no stream of theirs is open).
        received = smtp_sink.handler.wait_for(2, timeout=40)
        for mail in received:
            assert mail.rcpt_tos == ["vera@example.org"]
            text = _text(mail.message)
            assert "Your <b>order</b> ships today" in text  # as written, in the text part
            assert "refund later" not in text and b"refund later" not in mail.raw
        html = received[0].message.get_body(preferencelist=("html",))
        assert html is not None and "<b>order</b>" not in str(html.get_content())

        # Each job is delivered once, and the outbox records it (just after the send).
        def statuses() -> list[str]:
            query = select(outbox.c.status).where(outbox.c.kind == "email")
            rows = db.read_sync(lambda conn: conn.execute(query).all())
            return sorted(row.status for row in rows)

        deadline = time.monotonic() + 10
        while statuses() != ["delivered", "delivered"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert statuses() == ["delivered", "delivered"]
    assert len(smtp_sink.received) == 2
