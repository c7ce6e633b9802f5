"""chatdesk's email, received by a real SMTP server (aiosmtpd) and read with the email
package: headers, both parts, escaping, threading, unsubscribe, no private notes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.ids import new_id
from chatdesk.jobs.email import EmailSender, GiveUp, RetryLater
from chatdesk.settings import Settings
from tests.email.conftest import JobLike, Sink, email_settings, run
from tests.factories import (
    Operator,
    add_operator,
    bearer,
    create_site,
    csrf,
    login,
    services_db,
)

LATER = timedelta(minutes=10)


@dataclass
class Scene:
    client: TestClient
    settings: Settings
    owner: Operator
    site: dict[str, Any]
    token: str
    conversation_id: str
    visitor_id: str

    def reply(self, body: str, *, private: bool = False) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/conversations/{self.conversation_id}/messages",
            json={"body": body, "client_msg_id": new_id(), "private": private},
            headers=csrf(self.owner),
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def visitor_says(self, body: str) -> None:
        response = self.client.post(
            f"/api/v1/widget/conversations/{self.conversation_id}/messages",
            json={"body": body, "client_msg_id": new_id()},
            headers=bearer(self.token),
        )
        assert response.status_code == 201, response.text

    def sender(self, at: datetime | None = None) -> EmailSender:
        moment = at or datetime.now(UTC) + LATER
        return EmailSender(self.settings, services_db(self.client), clock=lambda: moment)

    def send(self, template: str, sender: EmailSender | None = None, **payload: Any) -> Any:
        job = JobLike(
            new_id(), {"template": template, "conversation_id": self.conversation_id, **payload}
        )
        return run((sender or self.sender()).send(job))


def make_scene(settings: Settings, sink: Sink, **extra: Any) -> Iterator[Scene]:
    configured = email_settings(settings, sink.url, **extra)
    with TestClient(create_app(configured)) as client:
        owner = login(client, add_operator(services_db(client), "owner", name="Olga Owner"))
        site = create_site(client, owner, name="Shop & Co", accent_color="#ff6600")
        session = client.post(
            "/api/v1/widget/sessions",
            json={
                "site_key": site["site_key"],
                "name": "Vera <b>Visitor</b>",
                "email": "vera@example.org",
                "page_url": "https://shop.example.com/cart",
                "timezone": "Europe/Paris",
            },
        ).json()
        token = session["visitor_token"]
        started = client.post(
            "/api/v1/widget/conversations",
            json={"body": "Hi <script>alert('x')</script> & bye", "client_msg_id": "first"},
            headers=bearer(token),
        ).json()
        yield Scene(
            client,
            configured,
            owner,
            site,
            token,
            started["conversation"]["id"],
            session["visitor"]["id"],
        )


@pytest.fixture
def scene(settings: Settings, smtp_sink: Sink) -> Iterator[Scene]:
    yield from make_scene(settings, smtp_sink, inbound_email_domain="in.example.com")


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_a_digest_of_replies_reaches_a_visitor_who_left(scene: Scene, smtp_sink: Sink) -> None:
    scene.reply("First answer: <b>bold?</b>")
    scene.reply("SECRET-NOTE about this visitor", private=True)
    scene.reply("Second answer")
    outcome = scene.send("replies")
    assert outcome.message_id
    (mail,) = smtp_sink.handler.wait_for(1)
    message = mail.message
    assert mail.rcpt_tos == ["vera@example.org"]
    assert parseaddr(message["To"])[1] == "vera@example.org"
    assert parseaddr(str(message["From"])) == ("Shop & Co", "help@shop.example.com")
    assert message["Subject"] == "Your conversation with Shop & Co"
    assert message["Message-ID"] == outcome.message_id
    assert re.fullmatch(r"<[0-9a-z]{26}\.replies@shop\.example\.com>", message["Message-ID"])
    root = f"<conv_{scene.conversation_id}@shop.example.com>"
    assert message["In-Reply-To"] == root and message["References"] == root
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert links[0].startswith("https://chat.example.com/email/unsubscribe/")
    assert links[1].startswith("mailto:unsubscribe+") and "@in.example.com" in links[1]
    reply_to = parseaddr(message["Reply-To"])[1]
    assert re.fullmatch(r"reply\+[0-9a-z]{47}@in\.example\.com", reply_to)
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    for body in (text, html):
        assert "Second answer" in body
        assert "SECRET-NOTE" not in body
        assert "https://shop.example.com/cart" in body
        assert "Olga Owner" in body
    assert "First answer: <b>bold?</b>" in text  # plain text is not HTML: shown as written
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html and "<b>bold?" not in html
    assert "Vera &lt;b&gt;Visitor&lt;/b&gt;" in html  # the visitor's own name, escaped
    assert "#ff6600" in html and "Shop &amp; Co" in html
    assert "SECRET-NOTE" not in mail.raw.decode()


def test_a_digest_carries_each_reply_once_and_nothing_while_the_visitor_is_here(
    scene: Scene, smtp_sink: Sink
) -> None:
    scene.reply("One")
    # Within the away time of the visitor's last presence: nothing yet.
    soon = scene.sender(at=datetime.now(UTC) + timedelta(seconds=30))
    assert scene.send("replies", soon).skipped.startswith("the visitor is here")
    assert scene.send("replies").message_id
    assert scene.send("replies").skipped.startswith("no reply")
    scene.reply("Two")
    assert scene.send("replies").message_id
    first, second = smtp_sink.handler.wait_for(2)
    assert "One" in parts(first.message)[0] and "Two" not in parts(first.message)[0]
    assert "Two" in parts(second.message)[0] and "One" not in parts(second.message)[0]
    # Two emails of one conversation thread together, each with its own id.
    assert first.message["Message-ID"] != second.message["Message-ID"]
    assert first.message["References"] == second.message["References"]


def test_the_transcript_escapes_what_visitors_wrote_and_leaves_notes_out(
    scene: Scene, smtp_sink: Sink
) -> None:
    scene.reply("Hello Vera")
    scene.reply("SECRET-NOTE", private=True)
    scene.visitor_says("Thanks <img src=x onerror=alert(1)>")
    scene.send("transcript")
    (mail,) = smtp_sink.handler.wait_for(1)
    text, html = parts(mail.message)
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; bye" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Hi <script>alert('x')</script> & bye" in text
    assert "SECRET-NOTE" not in text and "SECRET-NOTE" not in html
    # In the visitor's time zone (Europe/Paris: CET or CEST).
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d CES?T", text)


def test_one_click_unsubscribe_stops_visitor_email(scene: Scene, smtp_sink: Sink) -> None:
    scene.reply("Hello")
    scene.send("replies")
    (mail,) = smtp_sink.handler.wait_for(1)
    url = re.findall(r"<([^>]+)>", mail.message["List-Unsubscribe"])[0]
    path = url.removeprefix("https://chat.example.com")
    page = scene.client.get(path)
    assert page.status_code == 200 and '<form method="post"' in page.text
    scene.reply("After the page was only looked at")
    assert scene.send("replies").message_id  # GET changed nothing
    # What a mailbox provider sends (RFC 8058): no cookie, no Origin.
    done = scene.client.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "Unsubscribed" in done.text
    assert scene.client.post(path).status_code == 200  # again: the same answer
    scene.reply("After unsubscribing")
    assert scene.send("replies").skipped == "the visitor unsubscribed"
    assert scene.send("offline_ack").skipped == "the visitor unsubscribed"
    assert len(smtp_sink.received) == 2
    # A transcript is asked for explicitly: it still goes.
    assert scene.send("transcript").message_id
    forged = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    assert scene.client.post(forged).status_code == 404
    assert scene.client.get("/email/unsubscribe/x").status_code == 404


def test_operator_notifications(scene: Scene, smtp_sink: Sink) -> None:
    db = services_db(scene.client)
    agent = login(
        scene.client, add_operator(db, "agent", name="Ada Agent", email="ada@example.com")
    )
    body = {"notify_unanswered_minutes": 5, "notify_mentions": True}
    assert scene.client.patch("/api/v1/auth/me", json=body, headers=csrf(agent)).status_code == 200
    scene.client.patch(
        f"/api/v1/operators/{agent.id}",
        json={"site_ids": [scene.site["id"]]},
        headers=csrf(scene.owner),
    )
    login(scene.client, scene.owner)
    assert scene.send("unanswered", operator_id=agent.id).message_id
    note = scene.reply("@Ada Agent SECRET-NOTE can you look?", private=True)
    assert scene.send("mention", operator_id=agent.id, message_id=note["id"]).message_id
    unanswered, mention = smtp_sink.handler.wait_for(2)
    assert unanswered.rcpt_tos == ["ada@example.com"]
    assert unanswered.message["Subject"].startswith("[Shop & Co] Waiting for an answer")
    text, html = parts(unanswered.message)
    assert f"https://chat.example.com/admin/conversations/{scene.conversation_id}" in text
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "Reply-To" not in unanswered.message  # replies by email are the visitor's
    text, html = parts(mention.message)
    assert "private note" in text
    assert "SECRET-NOTE" not in mention.raw.decode()
    # Once answered, the unanswered email has nothing to say.
    scene.reply("On it")
    assert scene.send("unanswered", operator_id=agent.id).skipped == "the conversation was answered"
    # The operator's unsubscribe link turns that notification off.
    url = re.findall(r"<([^>]+)>", mention.message["List-Unsubscribe"])[0]
    assert scene.client.post(url.removeprefix("https://chat.example.com")).status_code == 200
    me = scene.client.get("/api/v1/auth/me", headers=csrf(scene.owner))
    assert me.status_code == 200
    assert scene.send("mention", operator_id=agent.id, message_id=note["id"]).skipped.startswith(
        "the operator"
    )


def test_refusals_map_to_retry_or_give_up(scene: Scene, smtp_sink: Sink) -> None:
    scene.reply("Hello")
    smtp_sink.handler.refuse = "550 5.1.1 No such user"
    with pytest.raises(GiveUp) as refused:
        scene.send("transcript")
    assert refused.value.status_code == 550
    smtp_sink.handler.refuse = "451 4.3.0 Try again later"
    with pytest.raises(RetryLater) as later:
        scene.send("transcript")
    assert later.value.status_code == 451


def test_an_unreachable_server_is_retried_later(settings: Settings, smtp_sink: Sink) -> None:
    scene_iter = make_scene(settings, smtp_sink)
    scene = next(scene_iter)
    try:
        closed = email_settings(settings, "smtp://127.0.0.1:1")
        sender = EmailSender(closed, services_db(scene.client), clock=lambda: datetime.now(UTC))
        with pytest.raises(RetryLater):
            scene.send("transcript", sender)
    finally:
        scene_iter.close()
