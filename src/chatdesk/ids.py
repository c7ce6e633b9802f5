"""Opaque, time-ordered identifiers and random secrets."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time

__all__ = [
    "NO_PASSWORD",
    "encode_id",
    "hash_token",
    "id_millis",
    "new_id",
    "new_token",
    "random_bytes",
]

# The password hash of an invited operator who has not chosen a password yet (ADR 0023):
# it is no argon2 hash, so no password matches it and they cannot sign in.
NO_PASSWORD = "!invited"  # noqa: S105 (no password matches it)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Two characters (10 bits) at a time: 13 lookups instead of 26 shifts and appends.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR_SHIFTS = tuple(range(120, -1, -10))
_lock = threading.Lock()
_last = [0, 0]
# os.urandom releases the GIL for its syscall, and getting it back can wait out another
# thread's whole switch interval (the writer's, on the hot path): draw in bulk instead.
_POOL_BYTES = 4096
_pool = bytearray()
# A forked child must never hand out the parent's remaining bytes again.
os.register_at_fork(after_in_child=_pool.clear)


def random_bytes(count: int) -> bytes:
    """``count`` bytes from the OS CSPRNG, drawn from a per-process pool refilled in bulk."""
    with _lock:
        if len(_pool) < count:
            _pool.extend(os.urandom(_POOL_BYTES))
        taken = bytes(_pool[:count])
        del _pool[:count]
    return taken


def new_id() -> str:
    """A 26-character id: 48-bit millisecond time then 80 random bits.

    Ids made by one process are strictly increasing (the random part is bumped
    within a millisecond), so ordering by id orders a conversation's messages.
    """
    fresh = int.from_bytes(random_bytes(10), "big") >> 1  # room to increment
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis <= _last[0]:
            millis = _last[0]
            rand = _last[1] + 1
        else:
            rand = fresh
        _last[0], _last[1] = millis, rand
    return encode_id((millis << 80) | (rand & ((1 << 80) - 1)))


def encode_id(value: int) -> str:
    """A 128-bit value as 26 Crockford base32 characters, most significant first
    (the value read as 130 bits, so fixed-length ids sort as their values do)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def id_millis(id_: str) -> int | None:
    """When :func:`new_id` made ``id_`` (milliseconds since 1970); None for anything
    that is not such an id."""
    if len(id_) != 26:
        return None
    value = 0
    for char in id_:
        digit = _ALPHABET.find(char)
        if digit < 0:
            return None
        value = value * 32 + digit
    return value >> 80


def new_token(prefix: str) -> str:
    """A server-minted bearer secret: ``prefix`` + 256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token; only this is stored, and lookups go by it."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
