"""A visitor with the widget connected is here: their stream records it while email is on,
so a digest emails only the replies they were not connected for."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chatdesk.app import create_app
from chatdesk.db.runner import Database
from chatdesk.ids import new_id
from chatdesk.jobs.email import EmailSender
from chatdesk.settings import Settings
from tests.conftest import LiveServer
from tests.email.conftest import JobLike, Sink, email_settings, run
from tests.factories import add_operator, bearer, csrf, login


@pytest.fixture
def configured(settings: Settings, smtp_sink: Sink) -> Settings:
    return email_settings(settings, smtp_sink.url, email_away_seconds=10)


@pytest.fixture
def server(configured: Settings) -> Iterator[LiveServer]:
    live = LiveServer(lambda: create_app(configured))
    live.start()
    yield live
    live.stop()


def _stream(url: str, token: str, stop: threading.Event, opened: threading.Event) -> None:
    headers = {**bearer(token), "Accept": "text/event-stream"}
    with (
        httpx.Client(base_url=url, timeout=10) as http,
        http.stream("GET", "/api/v1/widget/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        opened.set()
        for _line in response.iter_lines():
            if stop.is_set():
                return


def test_replies_seen_on_an_open_stream_are_not_emailed(
    configured: Settings, server: LiveServer, smtp_sink: Sink
) -> None:
    db = Database(configured.database_url)
    db.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            owner = login(http, add_operator(db, "owner"))
            site = http.post("/api/v1/sites", json={"name": "Shop"}, headers=csrf(owner)).json()
            token = http.post(
                "/api/v1/widget/sessions",
                json={"site_key": site["site_key"], "email": "vera@example.org"},
            ).json()["visitor_token"]
            conversation_id = http.post(
                "/api/v1/widget/conversations",
                json={"body": "Hello", "client_msg_id": "c1"},
                headers=bearer(token),
            ).json()["conversation"]["id"]

            def reply(body: str) -> None:
                response = http.post(
                    f"/api/v1/conversations/{conversation_id}/messages",
                    json={"body": body, "client_msg_id": new_id()},
                    headers=csrf(owner),
                )
                assert response.status_code == 201

            def digest(after: float) -> object:
                moment = datetime.now(UTC) + timedelta(seconds=after)
                sender = EmailSender(configured, db, clock=lambda: moment)
                job = JobLike(new_id(), {"template": "replies", "conversation_id": conversation_id})
                return run(sender.send(job))

            stop, opened = threading.Event(), threading.Event()
            reader = threading.Thread(target=_stream, args=(server.url, token, stop, opened))
            reader.start()
            assert opened.wait(10)
            time.sleep(1.5)  # past a heartbeat: the stream has marked the visitor here
            reply("Seen live")
            assert digest(0).skipped.startswith("the visitor is here")  # type: ignore[attr-defined]
            time.sleep(1.5)
            stop.set()
            reader.join(10)
            time.sleep(1.0)  # the closing stream's mark
            # Away now (11 s later), but the reply was delivered while connected.
            assert digest(11).skipped.startswith("no reply")  # type: ignore[attr-defined]
            reply("Written after the visitor left")
            sent = digest(11)
            assert sent.message_id  # type: ignore[attr-defined]
            (mail,) = smtp_sink.handler.wait_for(1)
            text = mail.message.get_body(("plain",)).get_content()
            assert "Written after the visitor left" in text and "Seen live" not in text
    finally:
        db.stop()
