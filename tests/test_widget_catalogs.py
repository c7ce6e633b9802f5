"""The widget's catalogs: every locale has every key English has, no other, with the same
placeholders; every key the widget's code asks for exists; the locale lists agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chatdesk.widget_locales import locales, match, resolve, valid_locale_setting, valid_strings

WIDGET = Path(__file__).resolve().parents[1] / "src" / "chatdesk" / "static" / "widget"
CATALOGS = WIDGET / "i18n"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# t("key") / t('key') / t(`key`) with a literal key, and the loader's say.key.
CALL = re.compile(r"\bt\(\s*[\"'`]([\w.]+)[\"'`]")
SAY = re.compile(r"\bsay\.(\w+)\b")
# Keys the code builds from a field's name (`fill_in_${input.name}`) or a site field.
BUILT = {"fill_in_name", "fill_in_email", "fill_in_message"}
REQUIRED = {"en", "de", "fr", "es", "pt", "it", "nl", "pl", "tr", "ar", "zh", "ja"}


def load(locale: str) -> dict[str, str]:
    data = json.loads((CATALOGS / f"{locale}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def all_locales() -> list[str]:
    return sorted(path.stem for path in CATALOGS.glob("*.json"))


def test_the_required_locales_ship() -> None:
    assert set(all_locales()) >= REQUIRED


@pytest.mark.parametrize("locale", all_locales())
def test_a_catalog_has_exactly_englishs_keys_and_placeholders(locale: str) -> None:
    english, catalog = load("en"), load(locale)
    assert sorted(set(english) - set(catalog)) == [], "missing"
    assert sorted(set(catalog) - set(english)) == [], "not in en.json"
    for key, text in catalog.items():
        assert isinstance(text, str) and text.strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), key


def test_a_catalog_with_a_missing_key_or_odd_placeholder_is_caught(tmp_path: Path) -> None:
    """The checks above, on a broken catalog: they can fail."""
    english = load("en")
    broken = dict(english)
    del broken["greeting"]
    broken["typing"] = "{who} tippt…"
    missing = set(english) - set(broken)
    odd = {
        key
        for key in broken
        if set(PLACEHOLDER.findall(broken[key])) != set(PLACEHOLDER.findall(english[key]))
    }
    assert missing == {"greeting"} and odd == {"typing"}


def test_every_key_the_widget_code_uses_is_in_english() -> None:
    english = load("en")
    used: set[str] = set(BUILT)
    for path in WIDGET.glob("*.js"):
        source = path.read_text(encoding="utf-8")
        used |= set(CALL.findall(source))
        if path.name == "loader.js":
            used |= {f"launcher_{key}" for key in SAY.findall(source)}
    assert len(used) > 40  # the grep found the calls
    assert sorted(used - set(english)) == []


def test_the_loaders_english_fallbacks_are_the_catalogs() -> None:
    source = (WIDGET / "loader.js").read_text(encoding="utf-8")
    english = load("en")
    fallbacks = dict(re.findall(r"^\s{4}(\w+): \"([^\"]*)\",$", source, re.M))
    assert fallbacks, "the loader's English words"
    for key, text in fallbacks.items():
        assert english[f"launcher_{key}"] == text, key


def test_the_widget_lists_the_locales_that_ship() -> None:
    source = (WIDGET / "i18n.js").read_text(encoding="utf-8")
    listed = re.search(r"export const LOCALES = \[([^\]]*)\]", source)
    assert listed is not None
    assert sorted(re.findall(r'"(\w+)"', listed.group(1))) == all_locales() == list(locales())


@pytest.mark.parametrize(
    ("setting", "languages", "locale"),
    [
        ("auto", ["de-AT", "en"], "de"),
        ("auto", ["zh-CN"], "zh"),
        ("auto", ["zh-Hans"], "zh"),
        ("auto", ["pt-BR", "en-US"], "pt"),
        ("auto", ["sw", "fr-CA"], "fr"),
        ("auto", ["sw", "xx"], "en"),
        ("auto", [], "en"),
        ("auto", ["iw"], "he"),
        ("ja", ["en-US"], "ja"),
        ("pt-BR", ["de"], "pt"),
    ],
)
def test_which_locale_a_visitor_gets(setting: str, languages: list[str], locale: str) -> None:
    assert resolve(setting, languages) == locale


def test_locale_settings_and_overrides_are_checked() -> None:
    assert valid_locale_setting("auto") == "auto"
    assert valid_locale_setting("de-AT") == "de-AT"
    for bad in ("sw", "", "de_AT", "<b>", "english"):
        with pytest.raises(ValueError, match="auto"):
            valid_locale_setting(bad)
    assert match("not a tag!") is None
    assert valid_strings({"de": {"greeting": "Servus!", "send": " "}}) == {
        "de": {"greeting": "Servus!"}
    }
    for bad_strings in (
        {"xx": {"greeting": "Hi"}},
        {"de": {"nope": "Hi"}},
        {"de": {"greeting": "x" * 501}},
        {"de": {"greeting": 5}},
        {"de": "Hi"},
        ["de"],
    ):
        with pytest.raises(ValueError):
            valid_strings(bad_strings)
