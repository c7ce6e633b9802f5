"""STARTTLS and implicit TLS against aiosmtpd with a self-signed certificate, trusted
through CHATDESK_SMTP_CA_FILE; refused without it; sign-in over the encrypted link."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatdesk.jobs.email import EmailSender, RetryLater
from chatdesk.settings import Settings
from tests.email.conftest import Certificate, Sink, email_settings
from tests.email.test_sending import make_scene
from tests.factories import services_db


def _sender(settings: Settings, url: str, db: object, **extra: object) -> EmailSender:
    configured = email_settings(settings, url, **extra)
    return EmailSender(configured, db, clock=lambda: datetime.now(UTC))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["starttls", "smtps"])
def test_tls_with_a_trusted_self_signed_certificate(
    kind: str,
    settings: Settings,
    smtp_sink: Sink,
    starttls_sink: Sink,
    smtps_sink: Sink,
    certificate: Certificate,
) -> None:
    sink = starttls_sink if kind == "starttls" else smtps_sink
    for scene in make_scene(settings, smtp_sink):
        db = services_db(scene.client)
        # Not trusted: the certificate is refused and the job is retried later.
        with pytest.raises(RetryLater):
            scene.send("transcript", _sender(settings, sink.url, db))
        assert sink.received == []
        # Wrong password: sign-in fails (after TLS), retried later too.
        wrong = sink.url.replace("s3cr%3At", "nope")
        with pytest.raises(RetryLater):
            scene.send(
                "transcript", _sender(settings, wrong, db, smtp_ca_file=str(certificate.cert))
            )
        trusted = _sender(settings, sink.url, db, smtp_ca_file=str(certificate.cert))
        assert scene.send("transcript", trusted).message_id
        (mail,) = sink.handler.wait_for(1)
        assert mail.rcpt_tos == ["vera@example.org"]
        assert "Hi <script>" in mail.message.get_body(("plain",)).get_content()


def test_starttls_is_required_when_asked_for(
    settings: Settings, smtp_sink: Sink, certificate: Certificate
) -> None:
    # A server that offers no STARTTLS: the email is not sent in the clear.
    for scene in make_scene(settings, smtp_sink):
        db = services_db(scene.client)
        plain_server = f"smtp://127.0.0.1:{smtp_sink.port}?starttls=true"
        with pytest.raises(RetryLater):
            scene.send("transcript", _sender(settings, plain_server, db))
        assert smtp_sink.received == []
