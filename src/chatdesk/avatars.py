"""Operators' faces: the picture they uploaded, or their initials on a circle whose colour
comes from their id (the same everywhere: console, widget, every browser).

Every operator has an avatar URL, ``/avatars/<id>?v=<version>``: the version changes
with the picture (its hash) or, for initials, with the name, so the URL may be cached
for good. The file store holds an uploaded picture under ``avatars/<id>``."""

from __future__ import annotations

import hashlib
from html import escape

__all__ = [
    "AVATAR_MAX_BYTES",
    "AVATAR_PATH",
    "avatar_url",
    "first_name",
    "initials",
    "initials_svg",
    "store_key",
]

# An upload larger than this is refused (413) before it is decoded; the stored copy is a
# small square WebP whatever was sent.
AVATAR_MAX_BYTES = 2 * 1024 * 1024
AVATAR_PATH = "/api/v1/auth/me/avatar"
# Background colours white text reads on at 4.5:1 or more.
_COLOURS = (
    "#b91c1c", "#c2410c", "#a16207", "#15803d", "#0f766e", "#0369a1",
    "#1d4ed8", "#6d28d9", "#a21caf", "#be185d", "#4d7c0f", "#475569",
)  # fmt: skip


def store_key(operator_id: str) -> str:
    return f"avatars/{operator_id}"


def _colour(operator_id: str) -> str:
    digest = hashlib.sha256(operator_id.encode()).digest()
    return _COLOURS[digest[0] % len(_COLOURS)]


def initials(name: str) -> str:
    """Up to two letters: the first of the first and of the last word."""
    words = [word for word in name.split() if word[:1].isalnum()]
    if not words:
        return "?"
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()


def first_name(name: str) -> str:
    """What a visitor sees of an operator's name beside their face: the first word."""
    return name.split()[0] if name.split() else name


def avatar_url(operator_id: str, name: str, avatar: str | None) -> str:
    """Where an operator's face is served; ``avatar`` is their picture's version."""
    version = avatar or "i" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"/avatars/{operator_id}?v={version}"


def initials_svg(operator_id: str, name: str) -> bytes:
    """The default face: initials, white on the operator's colour (no script, no links)."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        f'<circle cx="32" cy="32" r="32" fill="{_colour(operator_id)}"/>'
        '<text x="32" y="32" dy=".35em" text-anchor="middle" fill="#fff" '
        'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="26" '
        f'font-weight="600">{escape(initials(name))}</text></svg>'
    ).encode()
