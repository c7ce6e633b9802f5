"""An :class:`~chatdesk.queries.email.EmailPlan` as a MIME message: text and HTML from
the Jinja templates in ``templates/email/``, with the headers mail clients and
mailbox providers expect.

- HTML templates are autoescaped (``.html``); whatever visitors and operators
  wrote is data in both parts, never markup.
- ``Message-ID`` is made from the job's id, so a retried job sends the same id and
  the receiving side can drop the duplicate.
- Every email of a conversation carries ``In-Reply-To`` and ``References`` naming
  one root id for that conversation, ``<conv_<id>@<domain>>``: mail clients thread
  them together (the root itself is never sent; clients thread on the reference).
- ``List-Unsubscribe`` (a link, and a ``mailto:`` when the inbound listener is on)
  and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058).
- ``Reply-To: reply+<token>@<inbound domain>`` on a visitor's email when replies by
  email come back in; ``Auto-Submitted: auto-generated`` (RFC 3834) so vacation
  responders stay quiet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from chatdesk.queries.account_email import AccountPlan
from chatdesk.queries.email import EmailPlan, MailMessage, email_subject, header_text
from chatdesk.security.operator_links import link_token
from chatdesk.security.signing import ReplyTokens, UnsubscribeTokens

__all__ = ["Composer", "Letterhead", "conversation_root"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_VISITOR_KIND = "v"  # unsubscribe kinds: security/signing.py
_PREHEADERS = {
    "replies": "New replies to your conversation",
    "transcript": "The transcript you asked for",
    "offline_ack": "We got your message",
    "unanswered": "A conversation nobody has answered yet",
    "mention": "A teammate mentioned you",
    "password_reset": "Choose a new password",
    "invitation": "Choose a password to sign in",
}
_LINK_SUBJECTS = {
    "password_reset": "Reset your chatdesk password",
    "invitation": "You are invited to chatdesk",
}
_LINK_ACCENT = "#2563eb"


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["quote_lines"] = lambda text: "\n".join(
        "  " + line for line in str(text).splitlines()
    )
    return env


def _on_accent(color: str) -> str:
    """Black or white, whichever reads on ``color`` (#rrggbb), as the widget picks it."""
    try:
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    except ValueError:
        return "#ffffff"
    return "#111827" if r * 0.299 + g * 0.587 + b * 0.114 > 160 else "#ffffff"


def conversation_root(conversation_id: str, domain: str) -> str:
    """The id every email of a conversation refers to, so clients thread them."""
    return f"<conv_{conversation_id}@{domain}>"


@dataclass(frozen=True)
class Letterhead:
    """What every email needs beside its plan: addresses, links, keys."""

    sender: str  # the From address (CHATDESK_EMAIL_FROM)
    base_url: str  # chatdesk's public URL, for links
    secret: str
    inbound_domain: str | None  # replies by email come back here (None: they do not)
    reply_days: int = 90


class Composer:
    """Builds the MIME message of an email plan."""

    def __init__(self, letterhead: Letterhead) -> None:
        self.letterhead = letterhead
        self.address = parseaddr(letterhead.sender)[1]
        self.domain = self.address.rsplit("@", 1)[-1].lower() or "localhost"
        self.unsubscribe = UnsubscribeTokens(letterhead.secret)
        self.replies = ReplyTokens(letterhead.secret)

    def compose(self, plan: EmailPlan, job_id: str, now: datetime) -> EmailMessage:
        """The email for ``plan``, sent as job ``job_id``."""
        head = self.letterhead
        kind, subject_id = self._unsubscribe_subject(plan)
        token = self.unsubscribe.make(kind, subject_id)
        unsubscribe_url = f"{head.base_url.rstrip('/')}/email/unsubscribe/{token}"
        site = header_text(plan.site_name, 100)
        visitor_label = plan.visitor_name or plan.visitor_email or "a visitor"
        subject = email_subject(plan.template, plan.site_name, visitor_label)
        context = self._context(plan, subject, unsubscribe_url)
        env = _templates()
        text = env.get_template(f"email/{plan.template}.txt").render(context)
        html = env.get_template(f"email/{plan.template}.html").render(context)

        message = EmailMessage()
        display = site if plan.audience == "visitor" else f"{site} (chatdesk)"
        message["From"] = formataddr((display, self.address))
        message["To"] = formataddr((header_text(plan.to_name or ""), plan.to_address))
        message["Subject"] = subject
        message["Date"] = format_datetime(now.astimezone(UTC))
        message["Message-ID"] = f"<{job_id}.{plan.template}@{self.domain}>"
        root = conversation_root(plan.conversation_id, self.domain)
        message["In-Reply-To"] = root
        message["References"] = root
        unsubscribe = [f"<{unsubscribe_url}>"]
        if head.inbound_domain:
            unsubscribe.append(
                f"<mailto:unsubscribe+{token}@{head.inbound_domain}?subject=unsubscribe>"
            )
        message["List-Unsubscribe"] = ", ".join(unsubscribe)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        if plan.audience == "visitor" and head.inbound_domain:
            expires = now + timedelta(days=head.reply_days)
            reply = self.replies.make(plan.conversation_id, plan.visitor_id, expires)
            message["Reply-To"] = formataddr((site, f"reply+{reply}@{head.inbound_domain}"))
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    def compose_link(self, plan: AccountPlan, job_id: str, now: datetime) -> EmailMessage:
        """A password link email: no unsubscribe (it was asked for, or is the one way in),
        no thread; the link is made from the row's id and the secret key."""
        head = self.letterhead
        token = link_token(head.secret, plan.token_id)
        link = f"{head.base_url.rstrip('/')}/admin/reset?{urlencode({'token': token})}"
        subject = _LINK_SUBJECTS[plan.template]
        context = {
            "subject": subject,
            "preheader": _PREHEADERS[plan.template],
            "site_name": "chatdesk",
            "accent": _LINK_ACCENT,
            "on_accent": _on_accent(_LINK_ACCENT),
            "name": plan.to_name,
            "email": plan.to_address,
            "inviter": plan.inviter,
            "link": link,
            "expires": f"{plan.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
            "sign_in": f"{head.base_url.rstrip('/')}/admin/login",
            "unsubscribe_url": None,
            "unsubscribe_label": "",
            "why": "You get this email because of your account on chatdesk "
            f"({head.base_url.rstrip('/')}).",
        }
        env = _templates()
        message = EmailMessage()
        message["From"] = formataddr(("chatdesk", self.address))
        message["To"] = formataddr((header_text(plan.to_name), plan.to_address))
        message["Subject"] = subject
        message["Date"] = format_datetime(now.astimezone(UTC))
        message["Message-ID"] = f"<{job_id}.{plan.template}@{self.domain}>"
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(env.get_template(f"email/{plan.template}.txt").render(context))
        html = env.get_template(f"email/{plan.template}.html").render(context)
        message.add_alternative(html, subtype="html")
        return message

    @staticmethod
    def _unsubscribe_subject(plan: EmailPlan) -> tuple[str, str]:
        """(kind, id) of what the email's unsubscribe link stops (security/signing.py)."""
        if plan.audience == "visitor":
            return _VISITOR_KIND, plan.visitor_id
        assert plan.operator_id is not None
        kind = "u" if plan.template == "unanswered" else "m"
        return kind, plan.operator_id

    def _context(self, plan: EmailPlan, subject: str, unsubscribe_url: str) -> dict[str, Any]:
        zone = _zone(plan.visitor_timezone) if plan.audience == "visitor" else UTC
        visitor = plan.visitor_name or plan.visitor_email or "A visitor"
        base = self.letterhead.base_url.rstrip("/")
        if plan.audience == "visitor":
            why = f"You get this email because you wrote to {plan.site_name}."
            label = "Unsubscribe from these emails"
        else:
            why = (
                f"You get this email because of your notification settings ({base}/admin/account)."
            )
            label = "Turn these emails off"
        return {
            "subject": subject,
            "preheader": _PREHEADERS[plan.template],
            "site_name": plan.site_name,
            "accent": plan.accent_color,
            "on_accent": _on_accent(plan.accent_color),
            "visitor_name": plan.visitor_name,
            "visitor_label": visitor,
            "messages": [_message(m, zone) for m in plan.messages],
            "link": plan.page_url,
            "reply_by_email": plan.audience == "visitor" and bool(self.letterhead.inbound_domain),
            "offline_message": plan.offline_message,
            "minutes": plan.minutes,
            "author": plan.author,
            "note": plan.note,
            "console_link": f"{base}/admin/conversations/{plan.conversation_id}",
            "unsubscribe_url": unsubscribe_url,
            "unsubscribe_label": label,
            "why": why,
        }


def _zone(name: str | None) -> Any:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _message(message: MailMessage, zone: Any) -> dict[str, Any]:
    local = message.created_at.astimezone(zone)
    suffix = "UTC" if zone is UTC else local.tzname() or ""
    return {
        "author": message.author,
        "body": message.body,
        "time": f"{local:%Y-%m-%d %H:%M} {suffix}".strip(),
        "mine": message.mine,
    }
