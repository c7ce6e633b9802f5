"""The widget when chatdesk cannot be reached: a note drawn by the loader instead of a broken
frame, and the chat itself once the server is back, without reloading the host page.

The server is really stopped (and started again on the same port); nothing is faked.
"""

from __future__ import annotations

import time

from playwright.sync_api import BrowserContext, Locator, Page, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import HostServer, OperatorApi, make_operator, make_site
from tests.conftest import LiveServer

UNAVAILABLE = "Chat is unavailable right now"


def shop_page(settings: Settings, live_server: LiveServer, host: HostServer) -> str:
    site = make_site(settings, "Shop", [host.url], prechat_name="off", prechat_email="off")
    return host.add(
        "/",
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        "<title>Shop</title></head><body><h1>Shop</h1>"
        f'<script src="{live_server.url}/widget.js" data-site="{site["site_key"]}" async>'
        "</script></body></html>",
    )


def chat_frame(page: Page) -> Locator:
    return page.locator("iframe[title=Chat]")


def note(page: Page) -> Locator:
    return page.get_by_role("status").filter(has_text=UNAVAILABLE)


def test_a_note_while_chatdesk_is_down_then_the_chat_once_it_is_back(
    settings: Settings, live_server: LiveServer, host: HostServer, context: BrowserContext
) -> None:
    url = shop_page(settings, live_server, host)
    page = context.new_page()
    page.goto(url)  # the browser keeps /widget.js (cached five minutes), as a CDN would
    expect(page.get_by_role("button", name="Open chat")).to_be_visible()

    live_server.stop()
    page.goto(url)  # a new page view while chatdesk is down: the loader comes from the cache
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()
    launcher.click()
    expect(note(page)).to_be_visible()
    expect(page.get_by_text(UNAVAILABLE, exact=True)).to_be_visible()
    expect(note(page)).to_contain_text("We'll connect as soon as it's back.")
    expect(chat_frame(page)).to_be_hidden()  # no frame with the browser's error page

    # The note's own close control, named for assistive technology.
    page.get_by_role("button", name="Close", exact=True).click()
    expect(note(page)).to_be_hidden()
    expect(page.get_by_role("button", name="Open chat")).to_be_focused()
    page.get_by_role("button", name="Open chat").click()
    expect(note(page)).to_be_visible()
    expect(chat_frame(page)).to_be_hidden()

    # Back, on the same address: the loader's retries bring the chat in, no reload needed.
    live_server.start()
    started = time.monotonic()
    expect(chat_frame(page)).to_be_visible(timeout=20_000)
    back_after = time.monotonic() - started
    expect(note(page)).to_be_hidden()
    frame = page.frame_locator("iframe[title=Chat]")
    message = frame.get_by_role("textbox", name="Message")
    message.fill("Are you back?")
    message.press("Enter")
    expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(["Are you back?"])
    operator = OperatorApi(live_server, make_operator(settings))
    (conversation,) = operator.conversations()
    assert [m["body"] for m in operator.messages(conversation["id"])] == ["Are you back?"]
    operator.close()
    # Retries start at 2 s and double (2, 4, 8, ... s after the failure): a few seconds here.
    assert back_after < 15, back_after


def test_an_open_chat_that_loses_the_server_keeps_its_frame(
    settings: Settings, live_server: LiveServer, host: HostServer, context: BrowserContext
) -> None:
    url = shop_page(settings, live_server, host)
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Open chat").click()
    frame = page.frame_locator("iframe[title=Chat]")
    message = frame.get_by_role("textbox", name="Message")
    message.fill("Hello")
    message.press("Enter")
    expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(["Hello"])

    live_server.stop()
    # The frame's own reconnect handling takes over; the loader's note stays away, even
    # after the launcher closes and reopens the chat.
    expect(frame.get_by_text("Connection lost · reconnecting…")).to_be_visible()
    page.get_by_role("button", name="Close chat").first.click()
    page.get_by_role("button", name="Open chat").click()
    page.wait_for_timeout(2500)  # longer than the loader's grace after a frame load
    expect(chat_frame(page)).to_be_visible()
    expect(note(page)).to_be_hidden()

    live_server.start()
    expect(frame.get_by_text("Connection lost · reconnecting…")).to_be_hidden(timeout=40_000)
    message.fill("Still here")
    message.press("Enter")
    expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(["Hello", "Still here"])


def test_a_frame_the_page_refuses_to_show_gives_the_note_not_an_error_page(
    settings: Settings, live_server: LiveServer, host: HostServer, context: BrowserContext
) -> None:
    site = make_site(settings, "Shop", [host.url])
    chat = live_server.url
    # The settings request is allowed, the frame is not: the server answers, the frame fails.
    policy = f"default-src 'self'; script-src {chat}; connect-src {chat}; frame-src 'none'"
    url = host.add(
        "/",
        '<!doctype html><html><head><meta charset="utf-8"></head><body><h1>Strict</h1>'
        f'<script src="{chat}/widget.js" data-site="{site["site_key"]}" async></script>'
        "</body></html>",
        {"Content-Security-Policy": policy},
    )
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Open chat").click()
    expect(note(page)).to_be_visible()
    expect(chat_frame(page)).to_be_hidden()
