"""The interface every file store keeps, and the rules its keys follow."""

from __future__ import annotations

import re
from typing import Protocol

__all__ = ["FileStore", "InvalidKey", "StoredFileMissing", "check_key"]

# Keys are chatdesk's own (ids and a fixed suffix), never a user's file name: lower-case
# letters, digits, ``-`` and ``_`` in segments joined by ``/``, none of them ``.``/``..``.
_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)?(/[a-z0-9][a-z0-9_-]*(\.[a-z0-9]+)?)*")
MAX_KEY = 200


class InvalidKey(ValueError):
    """A key outside :data:`_KEY`'s pattern (a programming error, never a user's input)."""


class StoredFileMissing(LookupError):
    """No file is stored under the key."""


def check_key(key: str) -> str:
    if len(key) > MAX_KEY or _KEY.fullmatch(key) is None:
        raise InvalidKey(f"not a file store key: {key!r}")
    return key


class FileStore(Protocol):
    """Stores whole files by key. Every method may be called from the event loop: a store
    does its blocking work off it. Writing a key again replaces the file; deleting a key
    that holds nothing is no error."""

    name: str  # "local" or "s3", for logs and metrics

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes:
        """The file's bytes; :class:`StoredFileMissing` when there is none."""
        ...

    async def delete(self, keys: list[str]) -> None: ...

    async def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (for the clean-up of files nothing refers to)."""
        ...

    async def aclose(self) -> None: ...
