"""The email sender: the outbox's plugin for jobs of kind ``"email"``.

A job's payload names what to send (``actions/email.py`` lists the templates);
:meth:`EmailSender.send` reads what it means *now* (``queries/email.py``),
renders it (``jobs/email_render.py``) and hands it to the SMTP server
(``jobs/smtp.py``). A job with nothing left to say (the visitor came back, the
conversation was answered, a notification was turned off) sends nothing and
succeeds. After a digest is sent, the replies it carried are marked so the next
one starts after them (if that mark is lost, the next digest repeats them with a
new Message-ID: email is at least once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from chatdesk.clock import Clock, system_clock
from chatdesk.db.runner import Database
from chatdesk.jobs.email_render import Composer, Letterhead
from chatdesk.jobs.marks import mark_emailed
from chatdesk.jobs.outbox import GiveUp, RetryLater, Sent
from chatdesk.jobs.smtp import SmtpTransport
from chatdesk.queries.account_email import ACCOUNT_TEMPLATES, plan_account_email
from chatdesk.queries.email import plan_email
from chatdesk.settings import Settings
from chatdesk.smtp_url import parse_smtp_url

__all__ = ["EmailJob", "EmailSender", "EmailSent", "GiveUp", "RetryLater", "letterhead_of"]

_log = logging.getLogger("chatdesk.email")


class EmailJob(Protocol):
    """What the sender reads of an outbox job."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def attempts(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class EmailSent(Sent):
    """The outcome of a job: the Message-ID sent, or why nothing needed sending."""

    message_id: str | None = None
    skipped: str = ""


def letterhead_of(settings: Settings) -> Letterhead:
    """What every email needs from the settings."""
    base_url = settings.public_url or f"http://{settings.host}:{settings.port}"
    return Letterhead(
        sender=settings.email_sender,
        base_url=base_url,
        secret=settings.secret_key.get_secret_value(),
        inbound_domain=settings.inbound_email_domain if settings.inbound_enabled else None,
        reply_days=settings.inbound_token_days,
    )


class EmailSender:
    """Sends email jobs through ``CHATDESK_SMTP_URL``; construct only when email is on."""

    kind = "email"

    def __init__(self, settings: Settings, db: Database, *, clock: Clock = system_clock) -> None:
        if settings.smtp_url is None:
            raise ValueError("EmailSender needs CHATDESK_SMTP_URL")
        self.db = db
        self.clock = clock
        self.away = timedelta(seconds=settings.email_away_seconds)
        self.composer = Composer(letterhead_of(settings))
        self.transport = SmtpTransport(
            parse_smtp_url(settings.smtp_url.get_secret_value()),
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout_seconds,
        )

    async def send(self, job: EmailJob) -> EmailSent:
        """Send the email ``job`` names, if it still has something to say.

        Raises :class:`RetryLater` (transient: the server, the network) or
        :class:`GiveUp` (the server refused this email for good).
        """
        payload = dict(job.payload)
        now = self.clock()
        away = self.away
        if payload.get("template") in ACCOUNT_TEMPLATES:
            return await self._send_link(job, payload, now)
        plan, why = await self.db.read(lambda conn: plan_email(conn, payload, now, away))
        if plan is None:
            _log.info("email job %s sends nothing: %s", job.id, why)
            return EmailSent(message_id=None, skipped=why)
        message = self.composer.compose(plan, job.id, now)
        await self.transport.deliver(message)
        message_id = str(message["Message-ID"])
        _log.info("email job %s sent (%s, %s)", job.id, plan.template, message_id)
        if plan.emailed_through is not None:
            await self.db.write(mark_emailed, plan.conversation_id, plan.emailed_through)
        return EmailSent(message_id=message_id)

    async def _send_link(self, job: EmailJob, payload: dict[str, Any], now: datetime) -> EmailSent:
        """A password link email (a reset, an invitation), while its link still works."""
        account, why = await self.db.read(lambda conn: plan_account_email(conn, payload, now))
        if account is None:
            _log.info("email job %s sends nothing: %s", job.id, why)
            return EmailSent(message_id=None, skipped=why)
        message = self.composer.compose_link(account, job.id, now)
        await self.transport.deliver(message)
        message_id = str(message["Message-ID"])
        _log.info("email job %s sent (%s, %s)", job.id, account.template, message_id)
        return EmailSent(message_id=message_id)
