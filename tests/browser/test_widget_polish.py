"""The widget's finish: light or dark by the visitor's setting or the site's, the team's
faces in the header and the author's on each reply, and a reply's preview above the
launcher while the chat is closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Page, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import make_site
from tests.conftest import LiveServer


@pytest.fixture
def visitor(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


def open_widget(page: Page) -> FrameLocator:
    page.get_by_role("button", name="Open chat").click()
    return page.frame_locator("iframe[title=Chat]")


def rgb(frame: FrameLocator, selector: str, prop: str) -> tuple[int, ...]:
    value: str = frame.locator(selector).first.evaluate(f"(node) => getComputedStyle(node).{prop}")
    return tuple(int(part) for part in value[value.index("(") + 1 : -1].split(",")[:3])


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    def luminance(colour: tuple[int, ...]) -> float:
        c = [x / 255 for x in colour]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_frame_follows_a_visitor_who_prefers_dark(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext
) -> None:
    make_site(settings, "Demo shop", [live_server.url], accent_color="#0f766e")
    page = visitor.new_page()
    page.emulate_media(color_scheme="dark")
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    background = rgb(frame, "body", "backgroundColor")
    text = rgb(frame, "body", "color")
    assert sum(background) < 3 * 60, background  # dark
    assert contrast(text, background) >= 4.5
    assert (
        contrast(rgb(frame, ".greeting", "color"), rgb(frame, ".greeting", "backgroundColor"))
        >= 4.5
    )
    # The launcher on the host page keeps the site's colour.
    launcher = page.locator("chatdesk-widget")
    assert "15, 118, 110" in launcher.evaluate(
        "(host) => getComputedStyle(host.shadowRoot.querySelector('button.l')).backgroundColor"
    )
    # A change of the visitor's setting is followed while the frame is open.
    page.emulate_media(color_scheme="light")
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    assert sum(rgb(frame, "body", "backgroundColor")) == 3 * 255


def test_a_site_that_fixes_light_stays_light_for_a_dark_visitor(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext
) -> None:
    make_site(settings, "Demo shop", [live_server.url], theme="light")
    page = visitor.new_page()
    page.emulate_media(color_scheme="dark")
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    expect(frame.get_by_text("Hi there! How can we help?")).to_be_visible()
    expect(frame.locator("html")).to_have_attribute("data-theme", "light")
    assert sum(rgb(frame, "body", "backgroundColor")) == 3 * 255


def test_a_site_that_fixes_dark_is_dark_for_a_light_visitor(
    settings: Settings, live_server: LiveServer, visitor: BrowserContext
) -> None:
    make_site(settings, "Demo shop", [live_server.url], theme="dark")
    page = visitor.new_page()
    page.emulate_media(color_scheme="light")
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    assert sum(rgb(frame, "body", "backgroundColor")) < 3 * 60
