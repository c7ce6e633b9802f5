"""The secret of a password link (a reset asked for by email, or an invitation).

The link's token is an HMAC of the token row's id under the secret key: the database
keeps only its SHA-256 (``operator_tokens.token_hash``), and the outbox's job names the
row's id, never the token, so neither a copy of the database nor of the outbox opens
an account. The email sender makes the token again from the id when it sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from chatdesk.ids import hash_token

__all__ = ["LINK_PREFIX", "link_token", "link_token_hash"]

LINK_PREFIX = "cdl_"


def link_token(secret: str, token_id: str) -> str:
    """The token of the link for row ``token_id``: 256 bits no one can make without the key."""
    key = hmac.new(secret.encode(), b"chatdesk/password-link", hashlib.sha256).digest()
    mac = hmac.new(key, token_id.encode(), hashlib.sha256).digest()
    return LINK_PREFIX + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def link_token_hash(secret: str, token_id: str) -> str:
    """What is stored of the token of row ``token_id``."""
    return hash_token(link_token(secret, token_id))
