"""Docs stay in step with the code: every setting, error code and event type is documented."""

from __future__ import annotations

import re
from pathlib import Path

from chatdesk import errors
from chatdesk.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"
SRC = Path(__file__).resolve().parents[1] / "src" / "chatdesk"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    missing = [
        f"CHATDESK_{name.upper()}"
        for name in Settings.model_fields
        if f"`CHATDESK_{name.upper()}`" not in text
    ]
    assert missing == []


def test_every_documented_setting_exists() -> None:
    text = (DOCS / "settings.md").read_text()
    documented = set(re.findall(r"`CHATDESK_([A-Z_]+)`", text))
    known = {name.upper() for name in Settings.model_fields}
    assert documented - known == set()


def test_every_error_code_is_documented() -> None:
    text = (DOCS / "api.md").read_text()
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ChatdeskError)
    }
    assert {code for code in codes if f"`{code}`" not in text} == set()


def test_http_error_codes_are_documented() -> None:
    from chatdesk.web.errors import _STATUS_CODES

    text = (DOCS / "api.md").read_text()
    assert {code for code in _STATUS_CODES.values() if f"`{code}`" not in text} == set()


def test_every_event_type_is_documented() -> None:
    text = (DOCS / "events.md").read_text()
    emitted = set()
    for path in SRC.rglob("*.py"):
        emitted |= set(
            re.findall(r'"((?:conversation|message|visitor|operator)\.[a-z_]+)"', path.read_text())
        )
        emitted |= set(re.findall(r'"type": "(typing)"', path.read_text()))
    emitted = {
        e
        for e in emitted
        if e == "typing" or e == "operator.presence" or e.endswith((".created", ".updated"))
    }
    assert emitted >= {
        "conversation.created",
        "conversation.updated",
        "message.created",
        "operator.presence",
        "typing",
    }
    assert {event for event in emitted if f"`{event}`" not in text} == set()


def test_readme_gives_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert ci.strip().endswith("make test")
