"""``CHATDESK_SMTP_URL``: where outgoing email goes, and how to reach it.

``smtp://user:pass@host:port`` (plain, or ``?starttls=true`` to upgrade the
connection with STARTTLS before signing in) and ``smtps://…`` (TLS from the
first byte, "implicit TLS", RFC 8314). User and password are optional and
percent-decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["SmtpTarget", "parse_smtp_url"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SmtpTarget:
    """One SMTP server to send through: ``tls`` is "none", "starttls" or "implicit"."""

    host: str
    port: int
    tls: str
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # the password never reaches a log line
        return f"SmtpTarget(host={self.host!r}, port={self.port}, tls={self.tls!r})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """The server an SMTP URL names; ValueError saying what is wrong (never echoing the
    password)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("names no host (smtp://user:pass@host:port)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(f"has unknown options: {', '.join(sorted(unknown))} (only starttls)")
    starttls = query.get("starttls", ["false"])[-1].lower()
    if starttls not in _TRUE | _FALSE:
        raise ValueError("has starttls= neither true nor false")
    tls = "implicit" if scheme == "smtps" else "starttls" if starttls in _TRUE else "none"
    if tls == "implicit" and starttls in _TRUE:
        raise ValueError("asks for STARTTLS on smtps://, which is TLS already")
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
