"""Handing one email to the SMTP server of ``CHATDESK_SMTP_URL`` (aiosmtplib).

Plain, STARTTLS (``?starttls=true``: refused if the server does not offer it)
or implicit TLS (``smtps://``); certificates are verified against the system's
authorities, or those of ``CHATDESK_SMTP_CA_FILE``. A failure is reported as
:class:`RetryLater` (the server or the network may do better later: 4xx replies,
timeouts, refused connections, TLS and sign-in problems, which are fixed in the
configuration) or :class:`GiveUp` (the server refused this email for good: a 5xx
reply to the sender, a recipient or the data).
"""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage

import aiosmtplib

from chatdesk.jobs.outbox import GiveUp, RetryLater
from chatdesk.smtp_url import SmtpTarget

__all__ = ["GiveUp", "RetryLater", "SmtpTransport"]


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, closing its connection at once: after QUIT (or a failure) the
    session is over, and waiting for the server's TLS close_notify would hold the socket
    for up to half a minute (asyncio's TLS shutdown timeout) per email."""

    def close(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.Transport) and not transport.is_closing():
            transport.abort()
        super().close()


class SmtpTransport:
    """Sends messages to one SMTP server, one connection per message."""

    def __init__(
        self, target: SmtpTarget, *, ca_file: str | None = None, timeout: float = 30.0
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.tls_context = ssl.create_default_context(cafile=ca_file)

    async def deliver(self, message: EmailMessage) -> str:
        """Hand ``message`` over; the server's reply text. Raises RetryLater or GiveUp."""
        target = self.target
        client = _Client(
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.tls == "implicit",
            start_tls=target.tls == "starttls",
            tls_context=self.tls_context,
            timeout=self.timeout,
        )
        try:
            async with client:  # connects, signs in; QUIT and close on the way out
                _refused, reply = await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            code = max(codes) if codes else None
            raise _by_code(f"the recipient was refused ({code})", code) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise RetryLater(
                f"signing in to the SMTP server failed ({exc.code})", exc.code
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(f"the SMTP server answered {exc.code}", exc.code) from None
        except ssl.SSLError as exc:
            raise RetryLater(f"TLS with the SMTP server failed ({exc.reason})") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise RetryLater(
                f"the SMTP server could not be reached ({type(exc).__name__})"
            ) from None
        return reply


def _by_code(reason: str, code: int | None) -> Exception:
    if code is not None and 500 <= code < 600:
        return GiveUp(reason, code)
    return RetryLater(reason, code)
