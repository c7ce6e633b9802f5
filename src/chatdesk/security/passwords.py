"""Operator passwords: argon2id through argon2-cffi."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatdesk.ids import NO_PASSWORD

__all__ = [
    "DUMMY_HASH",
    "NO_PASSWORD",
    "hash_password",
    "temporary_password",
    "usable_hash",
    "verify_password",
]

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults

# Verified against when the email is unknown, so both paths cost the same time.
DUMMY_HASH = _hasher.hash("chatdesk-timing-equaliser")


def usable_hash(password_hash: str) -> str:
    """``password_hash``, or the dummy hash for an operator with no password yet, so a
    sign-in costs the same time either way."""
    return DUMMY_HASH if password_hash == NO_PASSWORD else password_hash


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def temporary_password() -> str:
    """A generated temporary password: 16 URL-safe characters (96 random bits)."""
    return secrets.token_urlsafe(12)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
