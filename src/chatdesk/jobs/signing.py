"""Standard Webhooks signing: the secret's shape and the ``webhook-signature`` header.

A secret is ``whsec_`` and base64 of 24 random bytes; the HMAC key is those bytes. A
delivery carries ``webhook-id`` (the job id, the same on every attempt),
``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature:
v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (https://www.standardwebhooks.com).
Kept apart from the sender so that actions can make secrets without loading an HTTP
client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from chatdesk.ids import random_bytes

__all__ = ["SECRET_PREFIX", "new_secret", "signature"]

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    """A new signing secret: ``whsec_`` + base64 of 192 random bits."""
    return SECRET_PREFIX + base64.b64encode(random_bytes(24)).decode("ascii")


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of one delivery attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
