"""Values chatdesk hands out without storing them, and recognises later on any node:
HMAC-SHA256 with a key derived from ``CHATDESK_SECRET_KEY`` for each purpose.

Two kinds:

- **Reply tokens** go in a reply address, ``reply+<token>@<domain>``: an email
  address's local part holds at most 64 characters (RFC 5321 §4.5.3.1.1) and some
  mail systems change its case, so the token is 47 lower-case base32 characters:
  the conversation id (26), an expiry in hours since 1970 (5) and the first 80 bits
  of the MAC (16). The MAC also covers the conversation's visitor, so a token
  names both without spelling out the visitor.
- **File links** let whoever was handed an attachment's URL fetch it, without other
  credentials, until the link expires: ``<expiry hours (6)><MAC (20)>``, 26 base32
  characters, the MAC covering the attachment id, the variant (the file, or its
  thumbnail) and the expiry. Expiries are rounded up to the hour, so the links made
  within an hour are the same (a browser's cache keeps the file).
- **Unsubscribe tokens** name a visitor, or an operator and one notification, with
  no expiry (an unsubscribe link must keep working as long as the email exists);
  47 characters too, so they serve in a ``mailto:`` address as well as in a link.

Tokens are compared in constant time. Changing the secret key invalidates every
token made before (reply addresses and unsubscribe links), never a session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["FileLinks", "ReplyToken", "ReplyTokens", "SignedLinks", "UnsubscribeTokens"]

_B32 = "0123456789abcdefghjkmnpqrstvwxyz"  # as chatdesk's ids (Crockford, lower case)
_ID = r"[0-9a-hjkmnp-tv-z]{26}"
_REPLY = re.compile(rf"({_ID})([0-9a-hjkmnp-tv-z]{{5}})([0-9a-hjkmnp-tv-z]{{16}})")
_FILE_LINK = re.compile(r"([0-9a-hjkmnp-tv-z]{6})([0-9a-hjkmnp-tv-z]{20})")
_UNSUBSCRIBE = re.compile(rf"([vum])({_ID})([0-9a-hjkmnp-tv-z]{{20}})")


def _key(secret: str, purpose: str) -> bytes:
    """One key per purpose: a token made for one use is never valid for another."""
    return hmac.new(secret.encode(), f"chatdesk/{purpose}".encode(), hashlib.sha256).digest()


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_B32[value & 31])
        value >>= 5
    return "".join(reversed(out))


def _from_b32(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + _B32.index(char)
    return value


@dataclass(frozen=True)
class ReplyToken:
    """What a valid reply token names."""

    conversation_id: str
    expires_at: datetime


class ReplyTokens:
    """Makes and checks the tokens of reply addresses."""

    def __init__(self, secret: str) -> None:
        self._key = _key(secret, "reply-address")

    def _mac(self, conversation_id: str, visitor_id: str, hours: int) -> str:
        message = f"{conversation_id}.{visitor_id}.{hours}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return _b32(int.from_bytes(digest[:10], "big"), 16)

    def make(self, conversation_id: str, visitor_id: str, expires_at: datetime) -> str:
        """A token for replies into ``conversation_id`` until ``expires_at`` (to the hour)."""
        hours = int(expires_at.timestamp() // 3600) + 1
        return conversation_id + _b32(hours, 5) + self._mac(conversation_id, visitor_id, hours)

    def read(self, token: str) -> tuple[str, int, str] | None:
        """(conversation id, expiry hour, MAC) of a well-formed token, unchecked; None
        for anything else. The caller looks the conversation's visitor up, then calls
        :meth:`check`."""
        found = _REPLY.fullmatch(token.lower())
        if found is None:
            return None
        return found[1], _from_b32(found[2]), found[3]

    def check(
        self, parts: tuple[str, int, str], visitor_id: str, now: datetime
    ) -> ReplyToken | str:
        """The token's meaning when its MAC is right for ``visitor_id`` and it has not
        expired; otherwise why not: ``"forged"`` or ``"expired"`` (only a genuine token
        can be told expired)."""
        conversation_id, hours, mac = parts
        if not hmac.compare_digest(mac, self._mac(conversation_id, visitor_id, hours)):
            return "forged"
        expires_at = datetime.fromtimestamp(hours * 3600, UTC)
        if expires_at <= now:
            return "expired"
        return ReplyToken(conversation_id, expires_at)

    @staticmethod
    def lifetime(days: int, now: datetime) -> datetime:
        return now + timedelta(days=days)


class UnsubscribeTokens:
    """Tokens of unsubscribe links and addresses: ``<kind><id><mac>``, 47 characters,
    so ``unsubscribe+<token>@<domain>`` fits an address's local part too.

    ``kind`` is one letter: ``v`` a visitor (every email they did not ask for), ``u``
    an operator's "unanswered" notifications, ``m`` an operator's mention emails. They
    never expire: an unsubscribe link must work as long as the email exists.
    """

    KINDS = ("v", "u", "m")

    def __init__(self, secret: str) -> None:
        self._key = _key(secret, "unsubscribe")

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return _b32(int.from_bytes(digest[:13], "big") >> 4, 20)

    def make(self, kind: str, subject_id: str) -> str:
        if kind not in self.KINDS or not re.fullmatch(_ID, subject_id):
            raise ValueError("unsubscribe tokens name a visitor or operator by id")
        body = kind + subject_id
        return body + self._mac(body)

    def read(self, token: str) -> tuple[str, str] | None:
        """(kind, id) of a genuine token; None for anything else."""
        found = _UNSUBSCRIBE.fullmatch(token.lower()) if len(token) == 47 else None
        if found is None:
            return None
        body = found[1] + found[2]
        if not hmac.compare_digest(found[3], self._mac(body)):
            return None
        return found[1], found[2]


class FileLinks:
    """Makes and checks the tokens of signed attachment links."""

    VARIANTS = ("file", "thumbnail")

    def __init__(self, secret: str) -> None:
        self._key = _key(secret, "file-link")

    def _mac(self, attachment_id: str, variant: str, hours: int) -> str:
        message = f"{attachment_id}.{variant}.{hours}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return _b32(int.from_bytes(digest[:13], "big") >> 4, 20)

    def make(self, attachment_id: str, variant: str, expires_at: datetime) -> str:
        hours = int(expires_at.timestamp() // 3600) + 1
        return _b32(hours, 6) + self._mac(attachment_id, variant, hours)

    def check(self, token: str, attachment_id: str, variant: str, now: datetime) -> str | None:
        """None when the token is genuine for this attachment and variant and has not
        expired; otherwise why not: ``"forged"`` or ``"expired"``."""
        found = _FILE_LINK.fullmatch(token) if len(token) == 26 else None
        if found is None or variant not in self.VARIANTS:
            return "forged"
        hours = _from_b32(found[1])
        if not hmac.compare_digest(found[2], self._mac(attachment_id, variant, hours)):
            return "forged"
        if datetime.fromtimestamp(hours * 3600, UTC) <= now:
            return "expired"
        return None

    def until(self, expires_at: datetime) -> SignedLinks:
        return SignedLinks(self, expires_at)


@dataclass(frozen=True)
class SignedLinks:
    """Attachment links signed to expire at ``expires_at``: what a unit that shapes a
    message with attachments is given (it pickles: the writer may be another process)."""

    links: FileLinks
    expires_at: datetime

    def url(self, attachment_id: str, variant: str) -> str:
        """The path of ``attachment_id``'s file or thumbnail, with its token."""
        token = self.links.make(attachment_id, variant, self.expires_at)
        suffix = "/thumbnail" if variant == "thumbnail" else ""
        return f"/files/{attachment_id}{suffix}?token={token}"
