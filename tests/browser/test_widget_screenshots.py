"""Screenshots of the widget's states at desktop and phone widths (test-artifacts/screenshots)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.browser.widget_helpers import OperatorApi, make_operator, make_site
from tests.conftest import LiveServer
from tests.email.conftest import email_settings

SIZES = {"desktop": {"width": 1280, "height": 800}, "360": {"width": 360, "height": 740}}
CLOSED_ALL_WEEK = {"timezone": "UTC", "days": {}}


@pytest.mark.parametrize("size", list(SIZES))
def test_screenshots_of_every_state(
    size: str,
    browser: Browser,
    live_server: LiveServer,
    settings: Settings,
    screenshot_dir: Path,
) -> None:
    make_site(settings, "Demo shop", [live_server.url], accent_color="#0f766e")
    context = browser.new_context(viewport=SIZES[size])  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_server.url + "/demo")
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()
    page.screenshot(path=screenshot_dir / f"widget-closed-{size}.png")

    launcher.click()
    frame = page.frame_locator("iframe[title=Chat]")
    expect(frame.get_by_role("button", name="Start chat")).to_be_visible()
    page.screenshot(path=screenshot_dir / f"widget-prechat-{size}.png")

    frame.get_by_label("Name").fill("Vera Visitor")
    frame.get_by_label("Email").fill("vera@example.com")
    frame.get_by_role("button", name="Start chat").click()
    message = frame.get_by_role("textbox", name="Message")
    message.fill("Hi! Do the Trail Runner 2 shoes run true to size?")
    message.press("Enter")
    operator = OperatorApi(live_server, make_operator(settings))
    (conversation,) = operator.conversations()
    operator.reply(conversation["id"], "Hi Vera! They run about half a size small; size up.")
    # The reply shown first: a reply hides its author's typing, and the typing signal
    # (handed over at once, never stored) can overtake the stored reply's event.
    expect(frame.locator(".msg.them")).to_have_count(1)
    operator.typing(conversation["id"])
    expect(frame.get_by_text("is typing…")).to_be_visible()
    page.screenshot(path=screenshot_dir / f"widget-open-{size}.png")
    operator.close()

    if size == "desktop":  # the open widget on a phone covers the launcher
        frame.get_by_role("button", name="Close chat").click()
        operator = OperatorApi(live_server, make_operator(settings))
        operator.reply(conversation["id"], "Anything else?")
        operator.close()
        expect(page.get_by_role("button", name="Open chat, 1 unread")).to_be_visible()
        page.screenshot(path=screenshot_dir / f"widget-unread-{size}.png")
    context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_offline_mode_takes_a_message_and_an_email(
    size: str,
    browser: Browser,
    settings: Settings,
    screenshot_dir: Path,
) -> None:
    # Email is on (an SMTP URL is set): the widget promises a reply by email and so
    # requires the address (tests/browser/test_email_ui.py has the other way).
    live_server = LiveServer(lambda: None)
    configured = email_settings(settings, "smtp://127.0.0.1:9", public_url=live_server.url)
    live_server.make_app = lambda: create_app(configured)
    live_server.start()
    try:
        _offline_mode(size, browser, live_server, settings, screenshot_dir)
    finally:
        live_server.stop()


def _offline_mode(
    size: str, browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    make_site(settings, "Demo shop", [live_server.url], business_hours=CLOSED_ALL_WEEK)
    context = browser.new_context(viewport=SIZES[size])  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_server.url + "/demo")
    page.get_by_role("button", name="Open chat").click()
    frame = page.frame_locator("iframe[title=Chat]")
    expect(frame.get_by_text("We're away right now. Leave a message")).to_be_visible()
    expect(frame.get_by_text("Away right now · we'll reply by email")).to_be_visible()
    page.screenshot(path=screenshot_dir / f"widget-offline-{size}.png")
    frame.get_by_role("textbox", name="Message").fill("Please call me back about order 4821.")
    frame.get_by_role("button", name="Send message").click()
    expect(frame.get_by_role("alert")).to_have_text("Please fill in your email.")
    frame.get_by_label("Email").fill("night@example.com")
    frame.get_by_role("button", name="Send message").click()
    expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(
        ["Please call me back about order 4821."]
    )
    expect(frame.get_by_text("Thanks! We'll reply to night@example.com")).to_be_visible()
    page.screenshot(path=screenshot_dir / f"widget-offline-sent-{size}.png")
    operator = OperatorApi(live_server, make_operator(settings))
    (conversation,) = operator.conversations()
    assert conversation["visitor"]["email"] == "night@example.com"
    operator.close()
    context.close()


def test_fits_a_320_px_phone_without_sideways_scrolling(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    make_site(settings, "Demo shop", [live_server.url])
    context = browser.new_context(viewport={"width": 320, "height": 568})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_server.url + "/demo")
    page.get_by_role("button", name="Open chat").click()
    frame = page.frame_locator("iframe[title=Chat]")
    expect(frame.get_by_role("button", name="Start chat")).to_be_visible()
    assert page.locator("iframe[title=Chat]").bounding_box() == {
        "x": 0,
        "y": 0,
        "width": 320,
        "height": 568,
    }
    frame.get_by_role("button", name="Start chat").click()
    message = frame.get_by_role("textbox", name="Message")
    message.fill("A long word: " + "x" * 80)
    message.press("Enter")
    expect(frame.locator(".confirmed .msg")).to_have_count(1)
    overflow = frame.locator("body").evaluate(
        "() => [...document.querySelectorAll('*')].filter("
        "(el) => el.getBoundingClientRect().right > innerWidth + 0.5).length"
    )
    assert overflow == 0
    expect(frame.get_by_role("button", name="Close chat")).to_be_visible()
    context.close()


@pytest.mark.parametrize("width", [1280, 390, 320])
def test_screenshot_of_the_unavailable_note_inside_the_page(
    width: int,
    browser: Browser,
    live_server: LiveServer,
    settings: Settings,
    screenshot_dir: Path,
) -> None:
    make_site(settings, "Demo shop", [live_server.url], accent_color="#0f766e")
    context = browser.new_context(viewport={"width": width, "height": 740})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_server.url + "/demo")
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()
    live_server.stop()  # the shop's page stays; chatdesk goes away
    launcher.click()
    note = page.get_by_role("status").filter(has_text="Chat is unavailable right now")
    expect(note).to_be_visible()
    page.screenshot(path=screenshot_dir / f"widget-unavailable-{width}.png")
    # A small card above the launcher, inside the viewport, the launcher still there to close it.
    card = page.locator("chatdesk-widget .p").bounding_box()
    button = page.get_by_role("button", name="Close chat").bounding_box()
    assert card is not None and button is not None
    assert card["x"] >= 0 and card["x"] + card["width"] <= width
    assert card["height"] < 150 and card["y"] + card["height"] <= button["y"]
    context.close()
    live_server.start()
