"""Operator passwords: argon2id through argon2-cffi."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["DUMMY_HASH", "hash_password", "temporary_password", "verify_password"]

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults

# Verified against when the email is unknown, so both paths cost the same time.
DUMMY_HASH = _hasher.hash("chatdesk-timing-equaliser")


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
