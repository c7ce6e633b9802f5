"""Real SMTP servers on loopback (aiosmtpd) for chatdesk's mail, and an app with email on."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gc
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import update

from chatdesk.actions.email import queue_email
from chatdesk.db.batch import Unit
from chatdesk.db.runner import Database
from chatdesk.db.tables import outbox
from chatdesk.jobs.outbox import Outcome, record_outcomes
from chatdesk.settings import Settings
from tests.conftest import free_port
from tests.event_loops import run_coroutine


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class SinkHandler:
    """Keeps every accepted message; ``refuse`` answers RCPT with that reply instead."""

    received: list[Received] = field(default_factory=list)
    refuse: str | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or envelope.content or b"")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.arrived:
            self.received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed, raw)
            )
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} messages arrived, not {count}"
            )
            return list(self.received)


@dataclass
class Sink:
    handler: SinkHandler
    port: int
    url: str

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, made by openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"mailer", b"s3cr:t")
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


def _start(handler: SinkHandler, **kwargs: Any) -> Iterator[Controller]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        # aiosmtpd drops the transport of a connection whose TLS handshake failed (the
        # tests that check an untrusted certificate is refused make such connections)
        # without closing it: collect it here, where its ResourceWarning is expected,
        # rather than in whichever later test the collector happens to run.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def plain_sink() -> Iterator[Sink]:
    """A plain SMTP server (no TLS, no sign-in) while the generator runs (one item)."""
    handler = SinkHandler()
    for controller in _start(handler):
        yield Sink(handler, controller.port, f"smtp://127.0.0.1:{controller.port}")


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    """A plain SMTP server (no TLS, no sign-in)."""
    yield from plain_sink()


@pytest.fixture
def starttls_sink(certificate: Certificate) -> Iterator[Sink]:
    """STARTTLS required before anything, then AUTH (mailer / s3cr:t) required."""
    handler = SinkHandler()
    for controller in _start(
        handler,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    ):
        url = f"smtp://mailer:s3cr%3At@127.0.0.1:{controller.port}?starttls=true"
        yield Sink(handler, controller.port, url)


@pytest.fixture
def smtps_sink(certificate: Certificate) -> Iterator[Sink]:
    """TLS from the first byte (implicit TLS), with AUTH offered."""
    handler = SinkHandler()
    for controller in _start(
        handler,
        ssl_context=certificate.server_context(),
        authenticator=_authenticate,
        # The whole connection is TLS, but aiosmtpd only counts STARTTLS's: it offers
        # AUTH here only when told TLS is not required (and then cannot require AUTH).
        auth_require_tls=False,
    ):
        url = f"smtps://mailer:s3cr%3At@127.0.0.1:{controller.port}"
        yield Sink(handler, controller.port, url)


def email_settings(settings: Settings, smtp_url: str, **extra: Any) -> Settings:
    """``settings`` with email on, through ``smtp_url``."""
    values = {
        "smtp_url": smtp_url,
        "email_from": "Support <help@shop.example.com>",
        "public_url": "https://chat.example.com",
        **extra,
    }
    return Settings.model_validate({**settings.model_dump(), **values})


@dataclass(frozen=True)
class JobLike:
    """An outbox job as the sender reads it."""

    id: str
    payload: dict[str, Any]
    kind: str = "email"
    attempts: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def failed_email(
    db: Database,
    payload: dict[str, Any],
    *,
    error: str = "the recipient was refused (550)",
    status_code: int | None = 550,
    attempts: int = 1,
) -> str:
    """An email job that failed for good after ``attempts`` attempts, as the worker
    records it (``record_outcomes``); its id."""
    job_id: str = db.write_sync(_failed_email, payload, error, status_code, attempts)
    return job_id


def _failed_email(
    unit: Unit, payload: dict[str, Any], error: str, status_code: int | None, attempts: int
) -> str:
    job_id = queue_email(unit, payload)
    # As ``attempts`` claims would have counted them.
    unit.conn.execute(update(outbox).where(outbox.c.id == job_id).values(attempts=attempts))
    failed = Outcome(job_id, "email", attempts, "failed", status_code=status_code, error=error)
    assert record_outcomes(unit, [failed]) == 1
    return job_id


def run(coro: Any) -> Any:
    """Await ``coro`` on a loop of its own thread (Playwright keeps one running in the
    main thread once a browser test ran); and check that it left no connection open:
    the loop ends here, and a socket still open (a TLS shutdown waiting for the server's
    reply) would be left to the garbage collector."""

    async def awaited() -> Any:
        result = await coro
        await asyncio.sleep(0)  # closing connections' callbacks run
        transports = getattr(asyncio.get_running_loop(), "_transports", {})
        still_open = [t for t in list(transports.values()) if not t.is_closing()]
        assert still_open == [], f"connections left open: {still_open}"
        return result

    return run_coroutine(awaited)
