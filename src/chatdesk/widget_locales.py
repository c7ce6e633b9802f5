"""The widget's languages: which catalogs exist, which one a visitor gets, and the checks
on a site's ``locale`` setting and its per-locale string overrides (ADR 0021).

The catalogs themselves are the JSON files the widget fetches
(``static/widget/i18n/<locale>.json``); this module reads the same files, so a locale
is offered exactly when its catalog ships.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "AUTO",
    "MAX_STRING",
    "RTL",
    "catalog",
    "launcher_strings",
    "locales",
    "match",
    "resolve",
    "valid_locale_setting",
    "valid_strings",
]

CATALOG_DIR = Path(__file__).resolve().parent / "static" / "widget" / "i18n"
AUTO = "auto"
RTL = frozenset({"ar", "he"})
MAX_STRING = 500
# What the loader shows on the host page: the keys it is sent by /widget/launcher.
_LAUNCHER_PREFIX = "launcher_"
# A BCP 47 tag's shape, loosely: a language and subtags ("de", "pt-BR", "zh-Hans-CN").
_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$")
# Old or other names of a language we have.
_ALIASES = {"iw": "he", "cmn": "zh"}


@cache
def _catalogs() -> dict[str, dict[str, str]]:
    """Every catalog, read once on first use."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(CATALOG_DIR.glob("*.json")):
        found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return found


def locales() -> tuple[str, ...]:
    """The locales a catalog exists for, sorted."""
    return tuple(_catalogs())


def catalog(locale: str) -> dict[str, str]:
    """One locale's strings (English's for one we do not have)."""
    catalogs = _catalogs()
    return catalogs.get(locale) or catalogs["en"]


def match(tag: str) -> str | None:
    """The catalog for a language tag, by its language alone: "de-AT" → "de",
    "zh-Hans-CN" → "zh", "pt-BR" → "pt"; None when we have none."""
    if not _TAG.match(tag):
        return None
    language = tag.split("-", 1)[0].lower()
    language = _ALIASES.get(language, language)
    return language if language in _catalogs() else None


def resolve(setting: str, languages: Iterable[str]) -> str:
    """The locale a visitor gets: the site's, unless it is "auto"; then the first of the
    browser's ``languages`` we have; else English."""
    if setting != AUTO:
        return match(setting) or "en"
    for tag in languages:
        found = match(tag.strip())
        if found:
            return found
    return "en"


def launcher_strings(locale: str, overrides: dict[str, dict[str, str]]) -> dict[str, str]:
    """The loader's own strings in ``locale`` (keys without their ``launcher_``), with
    the site's overrides over them."""
    own = overrides.get(locale, {})
    return {
        key.removeprefix(_LAUNCHER_PREFIX): own.get(key) or text
        for key, text in catalog(locale).items()
        if key.startswith(_LAUNCHER_PREFIX)
    }


def valid_locale_setting(value: str) -> str:
    """``"auto"`` or a language tag a catalog exists for; ValueError in words otherwise."""
    if value == AUTO:
        return value
    if not _TAG.match(value) or match(value) is None:
        raise ValueError(f'must be "auto" or a language the widget has: {", ".join(locales())}')
    return value


def valid_strings(value: Any) -> dict[str, dict[str, str]]:
    """Overrides as ``{locale: {key: text}}``: known locales and keys, texts of at most
    MAX_STRING characters. An empty text is no override (dropped)."""
    if not isinstance(value, dict):
        raise ValueError("must be an object of locales")
    known = catalog("en")
    cleaned: dict[str, dict[str, str]] = {}
    for locale, texts in value.items():
        if locale not in _catalogs():
            raise ValueError(f"{locale!r} is not a language the widget has: {', '.join(locales())}")
        if not isinstance(texts, dict):
            raise ValueError(f"{locale}: must be an object of strings")
        kept: dict[str, str] = {}
        for key, text in texts.items():
            if key not in known:
                raise ValueError(f"{locale}: {key!r} is not a widget string")
            if not isinstance(text, str):
                raise ValueError(f"{locale}.{key}: must be a string")
            if len(text) > MAX_STRING:
                raise ValueError(f"{locale}.{key}: at most {MAX_STRING} characters")
            if "\x00" in text:
                raise ValueError(f"{locale}.{key}: must not contain NUL characters")
            if text.strip():
                kept[key] = text
        if kept:
            cleaned[locale] = kept
    return cleaned
