"""Replies by email: smtplib talks to chatdesk's own inbound SMTP listener, started by the
app's lifespan, with reply addresses taken from chatdesk's real outgoing email."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import pytest

from chatdesk.security.signing import ReplyTokens, UnsubscribeTokens
from chatdesk.settings import Settings
from tests.conftest import free_port
from tests.email.conftest import Sink
from tests.email.test_sending import Scene, make_scene
from tests.factories import bearer

DOMAIN = "in.example.com"
MAX_BYTES = 8192


@pytest.fixture
def inbound(settings: Settings, smtp_sink: Sink) -> Iterator[tuple[Scene, int]]:
    port = free_port()
    yield from (
        (scene, port)
        for scene in make_scene(
            settings,
            smtp_sink,
            inbound_email_domain=DOMAIN,
            inbound_smtp_port=port,
            inbound_max_bytes=MAX_BYTES,
        )
    )


def reply_address(scene: Scene, sink: Sink) -> str:
    """The Reply-To of a real email chatdesk sent the visitor."""
    scene.send("transcript")
    (mail,) = sink.handler.wait_for(1)
    return parseaddr(str(mail.message["Reply-To"]))[1]


def a_reply(to: str, body: str, message_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Vera <vera@example.org>"
    message["To"] = to
    message["Subject"] = "Re: Your conversation with Shop & Co"
    message["Message-ID"] = message_id or make_msgid(domain="example.org")
    message.set_content(body)
    return message


QUOTED = """Yes, please ship it to Oslo.

Best regards,
Vera

On Tue, 3 Mar 2026 at 10:00, Shop & Co <{to}> wrote:
> Hello Vera
> Where should we ship?
"""


def visitor_history(scene: Scene) -> list[str]:
    response = scene.client.get(
        f"/api/v1/widget/conversations/{scene.conversation_id}/messages",
        headers=bearer(scene.token),
    )
    assert response.status_code == 200
    return [m["body"] for m in response.json()["messages"]]


def test_a_reply_by_email_is_stored_once_without_its_quoted_history(
    inbound: tuple[Scene, int], smtp_sink: Sink
) -> None:
    scene, port = inbound
    to = reply_address(scene, smtp_sink)
    assert to.endswith("@" + DOMAIN)
    message = a_reply(to, QUOTED.format(to=to))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        assert smtp.ehlo()[0] == 250
        assert f"SIZE {MAX_BYTES}".lower() in smtp.ehlo_resp.decode().lower()
        assert smtp.send_message(message) == {}
        assert smtp.send_message(message) == {}  # delivered twice (same Message-ID)
    history = visitor_history(scene)
    assert history.count("Yes, please ship it to Oslo.") == 1
    assert not any("Where should we ship" in body or "Best regards" in body for body in history)
    # Operators see it as the visitor's message, and it reopened nothing it should not.
    staff = scene.client.get(f"/api/v1/conversations/{scene.conversation_id}/messages").json()
    (stored,) = [m for m in staff["messages"] if m["body"] == "Yes, please ship it to Oslo."]
    assert stored["author"] == {
        "type": "visitor",
        "id": scene.visitor_id,
        "name": "Vera <b>Visitor</b>",
    }
    assert stored["client_msg_id"].startswith("email:")
    # Another email with its own Message-ID is another message.
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(a_reply(to.upper().replace(DOMAIN.upper(), DOMAIN), "One more thing"))
    assert visitor_history(scene)[-1] == "One more thing"


def test_forged_expired_and_foreign_addresses_are_refused_at_rcpt(
    inbound: tuple[Scene, int], smtp_sink: Sink
) -> None:
    scene, port = inbound
    to = reply_address(scene, smtp_sink)
    local, _, domain = to.partition("@")
    flipped = local[:-1] + ("a" if local[-1] != "a" else "b")
    secret = scene.settings.secret_key.get_secret_value()
    past = datetime.now(UTC) - timedelta(hours=2)
    expired = ReplyTokens(secret).make(scene.conversation_id, scene.visitor_id, past)
    other_visitor = ReplyTokens(secret).make(
        scene.conversation_id, "01" + "z" * 24, datetime.now(UTC) + timedelta(days=1)
    )
    cases = {
        f"{flipped}@{domain}": (550, b"5.1.1"),
        f"reply+{other_visitor}@{DOMAIN}": (550, b"5.1.1"),
        f"reply+{expired}@{DOMAIN}": (550, b"expired"),
        f"support@{DOMAIN}": (550, b"5.1.1"),
        f"{local}@elsewhere.example.net": (550, b"5.7.1"),
        "reply+short@" + DOMAIN: (550, b"5.1.1"),
    }
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("vera@example.org")
        for address, (code, words) in cases.items():
            answer = smtp.rcpt(address)
            assert answer[0] == code, (address, answer)
            assert words in answer[1], (address, answer)
        assert smtp.rcpt(to)[0] == 250  # the genuine one, in the same session
        smtp.rset()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(a_reply(f"{flipped}@{domain}", "Forged"))
        ((code, _),) = refused.value.recipients.values()
        assert code == 550
    assert "Forged" not in visitor_history(scene)


def test_oversized_mail_is_refused_with_552(inbound: tuple[Scene, int], smtp_sink: Sink) -> None:
    scene, port = inbound
    to = reply_address(scene, smtp_sink)
    big = a_reply(to, ("x" * 70 + "\n") * (MAX_BYTES // 35))
    # Announced with SIZE: refused at MAIL FROM.
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.send_message(big)
        assert refused.value.smtp_code == 552
    # Not announced: refused when the data passes the limit.
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.mail("vera@example.org")[0] == 250
        assert smtp.rcpt(to)[0] == 250
        code, text = smtp.data(big.as_string())
        assert code == 552, text
    assert not any(body.startswith("xxx") for body in visitor_history(scene))


def test_auto_replies_are_dropped_and_mailto_unsubscribe_works(
    inbound: tuple[Scene, int], smtp_sink: Sink
) -> None:
    scene, port = inbound
    to = reply_address(scene, smtp_sink)
    vacation = a_reply(to, "I am out of office until Monday.")
    vacation["Auto-Submitted"] = "auto-replied"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        assert smtp.send_message(vacation) == {}
    assert "I am out of office until Monday." not in visitor_history(scene)
    (mail,) = smtp_sink.received
    mailto = [part.strip(" <>") for part in str(mail.message["List-Unsubscribe"]).split(",")][1]
    address = mailto.removeprefix("mailto:").split("?")[0]
    token = address.split("+", 1)[1].split("@")[0]
    assert UnsubscribeTokens(scene.settings.secret_key.get_secret_value()).read(token) == (
        "v",
        scene.visitor_id,
    )
    request = a_reply(address, "unsubscribe")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        assert smtp.send_message(request) == {}
    scene.reply("Anything else?")
    assert scene.send("replies").skipped == "the visitor unsubscribed"
