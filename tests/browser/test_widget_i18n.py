"""The widget in the visitor's language: by the browser's languages, by the site's setting,
right to left for Arabic, and with the site's own words over the catalogs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, FrameLocator, Page, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import make_site
from tests.conftest import LiveServer

CATALOGS = Path(__file__).resolve().parents[2] / "src" / "chatdesk" / "static" / "widget" / "i18n"


def catalog(locale: str) -> dict[str, str]:
    words: dict[str, str] = json.loads((CATALOGS / f"{locale}.json").read_text("utf-8"))
    return words


@contextmanager
def visitor_page(browser: Browser, locale: str) -> Iterator[Page]:
    context = browser.new_context(locale=locale)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert problems == []


def open_widget(page: Page, label: str) -> FrameLocator:
    page.get_by_role("button", name=label).click()
    return page.frame_locator("chatdesk-widget iframe")


def html(frame: FrameLocator) -> Any:
    return frame.locator("html")


def test_the_widget_speaks_german_to_a_german_browser(
    settings: Settings, live_server: LiveServer, browser: Browser
) -> None:
    make_site(settings, "Demo shop", [live_server.url])
    with visitor_page(browser, "de-DE") as page:
        page.goto(live_server.url + "/demo")
        frame = open_widget(page, "Chat öffnen")
        expect(page.get_by_role("button", name="Chat schließen").first).to_be_visible()
        expect(html(frame)).to_have_attribute("lang", "de")
        expect(html(frame)).to_have_attribute("dir", "ltr")
        expect(frame.get_by_text("Hallo! Wie können wir helfen?")).to_be_visible()
        expect(frame.get_by_role("button", name="Tonbenachrichtigungen")).to_be_visible()
        frame.get_by_label("Name").fill("Vera")
        frame.get_by_label("E-Mail").fill("not an address")
        frame.get_by_role("button", name="Chat starten").click()
        expect(frame.get_by_role("alert")).to_have_text(
            "Bitte geben Sie eine gültige E-Mail-Adresse ein."
        )
        frame.get_by_label("E-Mail").fill("vera@example.com")
        frame.get_by_role("button", name="Chat starten").click()
        box = frame.get_by_role("textbox", name="Nachricht")
        expect(box).to_have_attribute("placeholder", "Nachricht eingeben…")
        box.fill("Liefern Sie nach Österreich?")
        box.press("Enter")
        expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(
            ["Liefern Sie nach Österreich?"]
        )
        # Day separators and times through Intl, in German.
        expect(frame.locator(".day-separator")).to_have_text("Heute")
        expect(frame.locator(".confirmed .msg.me .meta")).to_have_text(re.compile(r"^\d{2}:\d{2}$"))


def test_arabic_runs_right_to_left(
    settings: Settings, live_server: LiveServer, browser: Browser
) -> None:
    make_site(settings, "Demo shop", [live_server.url])
    with visitor_page(browser, "ar-EG") as page:
        page.goto(live_server.url + "/demo")
        frame = open_widget(page, "فتح المحادثة")
        expect(html(frame)).to_have_attribute("dir", "rtl")
        expect(html(frame)).to_have_attribute("lang", "ar")
        expect(frame.get_by_text("مرحبًا! كيف يمكننا مساعدتك؟")).to_be_visible()
        expect(frame.get_by_role("button", name="بدء المحادثة")).to_be_visible()
        # Mirrored: the title starts on the right, the header's buttons sit on the left.
        title = frame.locator("#title").bounding_box()
        close = frame.get_by_role("button", name="إغلاق المحادثة").bounding_box()
        assert title is not None and close is not None
        assert close["x"] + close["width"] <= title["x"]
        assert (
            page.locator("chatdesk-widget").evaluate(
                "host => host.shadowRoot.querySelector('.w').dir"
            )
            == "rtl"
        )


def test_the_sites_language_wins_over_the_browsers(
    settings: Settings, live_server: LiveServer, browser: Browser
) -> None:
    make_site(settings, "Demo shop", [live_server.url], locale="ja")
    with visitor_page(browser, "en-US") as page:
        page.goto(live_server.url + "/demo")
        frame = open_widget(page, "チャットを開く")
        expect(html(frame)).to_have_attribute("lang", "ja")
        expect(frame.get_by_text(catalog("ja")["greeting"])).to_be_visible()
        expect(frame.get_by_role("button", name="チャットを開始")).to_be_visible()
        expect(frame.locator("#status")).to_have_text("通常、数分以内に返信します")


def test_the_sites_own_words_show_over_the_catalog(
    settings: Settings, live_server: LiveServer, browser: Browser
) -> None:
    make_site(
        settings,
        "Demo shop",
        [live_server.url],
        greeting="Welcome to the demo shop!",
        strings={
            "de": {"greeting": "Servus! Was dürfen wir für Sie tun?", "launcher_open": "Fragen?"},
        },
    )
    with visitor_page(browser, "de-AT") as page:
        page.goto(live_server.url + "/demo")
        frame = open_widget(page, "Fragen?")
        expect(frame.get_by_text("Servus! Was dürfen wir für Sie tun?")).to_be_visible()
        expect(frame.get_by_role("button", name="Chat starten")).to_be_visible()
    # No override in French: the site's own greeting, the rest in French.
    with visitor_page(browser, "fr-FR") as page:
        page.goto(live_server.url + "/demo")
        frame = open_widget(page, "Ouvrir le chat")
        expect(frame.get_by_text("Welcome to the demo shop!")).to_be_visible()
        expect(frame.get_by_role("button", name="Démarrer le chat")).to_be_visible()
