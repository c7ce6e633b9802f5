"""The inbound SMTP listener: replies by email become visitor messages.

Started by the app's lifespan when ``CHATDESK_INBOUND_SMTP_PORT`` is set, on the
server's own event loop (aiosmtpd's protocol on ``loop.create_server``). It takes
mail for two kinds of address at ``CHATDESK_INBOUND_EMAIL_DOMAIN``:

- ``reply+<token>@<domain>``, the Reply-To of every email a visitor gets: the
  token (``security/signing.py``) names the conversation and, through its MAC,
  the conversation's visitor; it expires. The reply's own text
  (``reply_text.py``) is stored as a message of that visitor through the same
  action the widget uses (``actions.messages.send_message``), with a
  ``client_msg_id`` made from the email's ``Message-ID``: the same email
  delivered twice is stored once.
- ``unsubscribe+<token>@<domain>``, the ``mailto:`` of ``List-Unsubscribe``.

Refusals happen at the SMTP level, where the sending server turns them into a
bounce: an address that is not one of those, a forged token and a conversation
that is gone get ``550 5.1.1`` at RCPT, an expired token ``550 5.1.1`` saying it
expired, another domain ``550 5.7.1`` (no relaying). A message larger than
``CHATDESK_INBOUND_MAX_BYTES`` gets ``552``: at MAIL when it announces its SIZE
(advertised in EHLO), at DATA otherwise. While the database cannot take the
message, DATA answers ``451`` and the sending server retries later.
Automatic replies (``Auto-Submitted`` other than ``no``, ``Precedence: bulk``)
are accepted and dropped, so a vacation responder never talks to the team.
The listener speaks plain SMTP: put it behind your MX or relay (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from weakref import WeakKeyDictionary

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Connection, select

from chatdesk.actions.email import unsubscribe_operator, unsubscribe_visitor
from chatdesk.actions.messages import send_message
from chatdesk.clock import Clock, system_clock
from chatdesk.db.runner import Database
from chatdesk.db.tables import conversations
from chatdesk.errors import NotFound, Unavailable
from chatdesk.inbound.reply_text import reply_text
from chatdesk.security.principals import VisitorActor
from chatdesk.security.signing import ReplyTokens, UnsubscribeTokens
from chatdesk.settings import Settings

__all__ = ["InboundListener", "MailTarget"]

_log = logging.getLogger("chatdesk.inbound")
_ADDRESS = re.compile(r"^(reply|unsubscribe)\+([0-9a-z]{47})@(.+)$", re.IGNORECASE)
MAX_RECIPIENTS = 10
NO_SUCH_ADDRESS = "550 5.1.1 No such address here"
EXPIRED = "550 5.1.1 This reply address has expired; answer from the chat instead"
NOT_OURS = "550 5.7.1 Relaying denied: this server takes mail for its own domain only"
TOO_MANY = "452 4.5.3 Too many recipients"
TRY_LATER = "451 4.3.0 Cannot take the message now; try again later"


@dataclass(frozen=True)
class MailTarget:
    """What one accepted recipient address means."""

    kind: str  # "reply" or "unsubscribe"
    conversation_id: str = ""
    visitor_id: str = ""
    site_id: str = ""
    unsubscribe: tuple[str, str] = ("", "")  # (kind letter, id)


def _conversation(conn: Connection, conversation_id: str) -> Any:
    return conn.execute(
        select(conversations.c.id, conversations.c.visitor_id, conversations.c.site_id).where(
            conversations.c.id == conversation_id
        )
    ).first()


def client_msg_id_of(message: EmailMessage, raw: bytes) -> str:
    """The message's idempotency key: from its Message-ID (the same email twice is one
    message), else from its bytes."""
    source = str(message.get("Message-ID") or "").strip().lower().encode() or raw
    return "email:" + hashlib.sha256(source).hexdigest()[:40]


def is_automatic(message: EmailMessage) -> bool:
    """An auto-reply (vacation, bounce, list traffic): not a person's reply."""
    submitted = str(message.get("Auto-Submitted") or "no").strip().lower()
    precedence = str(message.get("Precedence") or "").strip().lower()
    return submitted != "no" or precedence in ("bulk", "junk", "list", "auto_reply")


class _Handler:
    """aiosmtpd's hooks: who may receive (RCPT), and what a message does (DATA)."""

    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        assert settings.inbound_email_domain is not None
        self.domain = settings.inbound_email_domain
        secret = settings.secret_key.get_secret_value()
        self.replies = ReplyTokens(secret)
        self.unsubscribes = UnsubscribeTokens(secret)
        self.db = db
        self.clock = clock
        # Each envelope's accepted recipients; gone with the envelope (RSET, a new MAIL,
        # a dropped connection), so nothing outlives a session.
        self.targets: WeakKeyDictionary[Envelope, dict[str, MailTarget]] = WeakKeyDictionary()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        found = _ADDRESS.match(address.strip())
        if found is None:
            return NOT_OURS if not address.lower().endswith("@" + self.domain) else NO_SUCH_ADDRESS
        kind, token, domain = found[1].lower(), found[2], found[3].lower()
        if domain != self.domain:
            return NOT_OURS
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return TOO_MANY
        try:
            target = await self._target(kind, token)
        except Unavailable:
            return TRY_LATER
        if isinstance(target, str):
            return target
        envelope.rcpt_tos.append(address)
        self.targets.setdefault(envelope, {})[address] = target
        return "250 2.1.5 OK"

    async def _target(self, kind: str, token: str) -> MailTarget | str:
        if kind == "unsubscribe":
            subject = self.unsubscribes.read(token)
            return NO_SUCH_ADDRESS if subject is None else MailTarget(kind, unsubscribe=subject)
        parts = self.replies.read(token)
        if parts is None:
            return NO_SUCH_ADDRESS
        row = await self.db.read(lambda conn: _conversation(conn, parts[0]))
        if row is None:
            return NO_SUCH_ADDRESS
        checked = self.replies.check(parts, row.visitor_id, self.clock())
        if checked == "expired":
            return EXPIRED
        if isinstance(checked, str):
            return NO_SUCH_ADDRESS
        return MailTarget(kind, row.id, row.visitor_id, row.site_id)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        targets = self.targets.pop(envelope, {})
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        message = parsed if isinstance(parsed, EmailMessage) else EmailMessage()
        try:
            for target in targets.values():
                await self._deliver(target, message, raw)
        except Unavailable:
            return TRY_LATER
        return "250 2.0.0 OK"

    async def _deliver(self, target: MailTarget, message: EmailMessage, raw: bytes) -> None:
        if target.kind == "unsubscribe":
            kind, subject_id = target.unsubscribe
            if kind == "v":
                await self.db.write(unsubscribe_visitor, subject_id)
            else:
                notification = "unanswered" if kind == "u" else "mention"
                await self.db.write(unsubscribe_operator, subject_id, notification)
            return
        if is_automatic(message):
            _log.info("automatic reply to conversation %s dropped", target.conversation_id)
            return
        body = reply_text(message)
        if not body:
            _log.info("reply to conversation %s had no text of its own", target.conversation_id)
            return
        actor = VisitorActor(target.visitor_id, target.site_id, token_hash="")
        try:
            _message, created = await self.db.write(
                send_message, actor, target.conversation_id, body, client_msg_id_of(message, raw)
            )
        except NotFound:  # deleted between RCPT and DATA: nowhere to put it
            _log.info("reply to conversation %s: the conversation is gone", target.conversation_id)
            return
        _log.info(
            "reply by email %s conversation %s",
            "stored in" if created else "already stored in",
            target.conversation_id,
        )


class InboundListener:
    """The SMTP server for replies by email, on the app's event loop."""

    def __init__(self, settings: Settings, db: Database, *, clock: Clock = system_clock) -> None:
        if settings.inbound_smtp_port is None or settings.inbound_email_domain is None:
            raise ValueError("the inbound listener needs a port and a domain")
        self.settings = settings
        self.handler = _Handler(settings, db, clock)
        self._server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        return SMTP(
            self.handler,
            data_size_limit=self.settings.inbound_max_bytes,
            hostname=self.settings.inbound_email_domain,
            ident="chatdesk",
            timeout=60,
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        port = self.settings.inbound_smtp_port
        host = self.settings.inbound_smtp_host
        self._server = await loop.create_server(self._protocol, host=host, port=port)
        _log.info("inbound SMTP listening on %s:%s for @%s", host, port, self.handler.domain)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            try:
                async with asyncio.timeout(2):
                    await server.wait_closed()
            except TimeoutError:
                pass
