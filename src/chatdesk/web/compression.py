"""Response compression for the edge: gzip, and brotli where the client offers it.

What is compressed (API.md, Service): JavaScript, CSS and SVG (the loader and
everything under ``/static/``), the widget's frame pages, and JSON bodies above
1 KiB. Never an event stream (it would be held back until the buffer filled),
never a console page (it embeds the CSRF token), and never a response that
carries a secret: compressing a secret next to text an attacker can influence
lets them read it byte by byte from the compressed length (BREACH).

Secrets are recognised by the response itself, not by a list of routes, so a new
route that hands one out is covered without anyone remembering to mark it: a
response that sets a cookie (a session) is never compressed, nor is a JSON body
holding any of ``SECRET_FIELDS``. tests/api/test_compression.py walks the OpenAPI
schema and fails on a response field that looks secret and is in neither
``SECRET_FIELDS`` nor the reviewed list of public look-alikes.

The message path pays one size check: its JSON answer is below ``MIN_JSON``.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Send

try:
    import brotli
except ImportError:  # pragma: no cover - brotli is a dependency; gzip still works without it
    brotli = None

__all__ = ["MIN_JSON", "SECRET_FIELDS", "Compression", "add_vary"]

MIN_JSON = 1024
MIN_TEXT = 256  # below this the encoding's own framing eats most of the gain
# The response fields that hold a secret (quoted, as they appear in a JSON body).
SECRET_FIELDS = (
    "csrf_token",
    "visitor_token",
    "token",
    "identity_secret",
    "secret",
    "temporary_password",
    "otpauth_uri",  # it holds the TOTP secret
)
# A key with a string value, compact or spaced (a schema naming the field, as
# /openapi.json does, holds no secret and is compressed).
_SECRET_KEYS = tuple(
    f'"{name}"{colon}"'.encode() for name in SECRET_FIELDS for colon in (":", ": ")
)
# The frame pages; the console's pages embed the CSRF token and are left alone.
_HTML_PATHS = frozenset({"/widget/frame", "/demo"})
_TEXT_TYPES = (b"text/javascript", b"application/javascript", b"text/css", b"image/svg+xml")
_JSON = b"application/json"
_MAX_BUFFER = 16 * 1024 * 1024  # bigger bodies go out as they are, unbuffered
_OFF_LOOP = 256 * 1024  # bodies this large are compressed in a thread
_CACHE_ENTRIES = 512

Compressor = Callable[[bytes, bool], bytes]


def _gzip(body: bytes, best: bool) -> bytes:
    return gzip.compress(body, compresslevel=9 if best else 6, mtime=0)


def _brotli(body: bytes, best: bool) -> bytes:
    # Quality 11 is slow but runs once per static file (cached); 5 is gzip's speed.
    quality = 11 if best and len(body) <= _OFF_LOOP else 5
    result: bytes = brotli.compress(body, quality=quality)
    return result


_ENCODERS: dict[bytes, Compressor] = {b"gzip": _gzip}
if brotli is not None:
    _ENCODERS[b"br"] = _brotli


def _offered(accept: bytes) -> bytes | None:
    """The encoding to use for this ``Accept-Encoding``: br over gzip; none if q=0."""
    offered: set[bytes] = set()
    for part in accept.lower().split(b","):
        name, _, params = part.strip().partition(b";")
        q = params.strip().removeprefix(b"q=").strip() if params else b"1"
        if q.replace(b"0", b"").replace(b".", b"") != b"":  # q=0, 0.0, 0.000: refused
            offered.add(name.strip())
    for encoding in (b"br", b"gzip"):
        if encoding in offered and encoding in _ENCODERS:
            return encoding
    return None


class Compression:
    """The edge's compression: which responses, which encoding, and a cache of
    compressed static bodies (keyed by path and ETag, so a changed file misses)."""

    def __init__(self) -> None:
        self._accepted: dict[bytes, bytes | None] = {}
        self._cache: dict[tuple[str, bytes, bytes], bytes] = {}

    def encoding(self, accept: bytes | None) -> bytes | None:
        if not accept:
            return None
        try:
            return self._accepted[accept]
        except KeyError:
            if len(self._accepted) > 64:  # browsers send a handful of distinct values
                self._accepted.clear()
            found = self._accepted[accept] = _offered(accept)
            return found

    def kind(self, path: str, status: int, headers: list[Any]) -> bytes | None:
        """``b"json"`` or ``b"text"`` for a response that may be compressed, else None.

        Decided from the response start alone; a JSON body is checked again for
        secrets once it has arrived.
        """
        if status not in (200, 201):
            return None
        content_type: bytes | None = None
        length = -1
        for name, value in headers:  # Starlette puts these two first: a short loop
            lowered = name.lower()
            if lowered == b"content-type":
                content_type = value
            elif lowered == b"content-length":
                length = int(value)
            else:
                continue
            if content_type is not None and length >= 0:
                break
        content_type = content_type or b""
        if content_type.startswith(_JSON):
            if 0 <= length <= MIN_JSON:  # the message path ends here
                return None
            kind = b"json"
        elif 0 <= length < MIN_TEXT:
            return None
        elif content_type.startswith(_TEXT_TYPES) or (
            content_type.startswith(b"text/html") and path in _HTML_PATHS
        ):
            kind = b"text"
        else:
            return None
        for name, _value in headers:
            if name.lower() in (b"content-encoding", b"set-cookie"):
                return None
        return kind

    def sender(self, send: Send, start: Message, kind: bytes, encoding: bytes, path: str) -> Send:
        """A ``send`` that holds the response until its body is complete, then sends it
        compressed (or as it was: a secret, a small body, an oversized one)."""
        parts: list[bytes] = []
        size = 0
        passing = False

        async def buffered(message: Message) -> None:
            nonlocal size, passing
            if passing or message["type"] != "http.response.body":
                if not passing:  # a server extension (pathsend): the body is not ours
                    passing = True
                    await send(start)
                await send(message)
                return
            chunk = message.get("body", b"")
            parts.append(chunk)
            size += len(chunk)
            if message.get("more_body", False):
                if size > _MAX_BUFFER:
                    passing = True
                    await send(start)
                    await send(
                        {"type": "http.response.body", "body": b"".join(parts), "more_body": True}
                    )
                    parts.clear()
                return
            body = b"".join(parts)
            if kind == b"json" and (len(body) <= MIN_JSON or _has_secret(body)):
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            encoded = await self._compressed(body, encoding, path, start)
            headers = [
                (name, _weak(value) if name.lower() == b"etag" else value)
                for name, value in start["headers"]
                if name.lower() != b"content-length"
            ]
            headers += [
                (b"content-encoding", encoding),
                (b"content-length", str(len(encoded)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": encoded})

        return buffered

    async def _compressed(self, body: bytes, encoding: bytes, path: str, start: Message) -> bytes:
        etag = next((v for n, v in start["headers"] if n.lower() == b"etag"), None)
        compress = _ENCODERS[encoding]
        if etag is None:  # dynamic: compressed each time, quickly
            return await _run(compress, body, False)
        key = (path, etag, encoding)
        cached = self._cache.get(key)
        if cached is None:
            cached = await _run(compress, body, True)
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = cached
        return cached


async def _run(compress: Compressor, body: bytes, best: bool) -> bytes:
    if len(body) > _OFF_LOOP:  # keeps a large first compression off the event loop
        return await asyncio.to_thread(compress, body, best)
    return compress(body, best)


def _has_secret(body: bytes) -> bool:
    return any(key in body for key in _SECRET_KEYS)


def _weak(etag: bytes) -> bytes:
    """A compressed body is another representation: its validator becomes weak."""
    return etag if etag.startswith(b"W/") else b"W/" + etag


def add_vary(headers: list[Any]) -> None:
    """``Vary: Accept-Encoding`` on every response whose encoding depends on it."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            if b"accept-encoding" not in value.lower():
                headers[index] = (name, value + b", Accept-Encoding")
            return
    headers.append((b"vary", b"Accept-Encoding"))
