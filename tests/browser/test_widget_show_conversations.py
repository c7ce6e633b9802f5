"""``chatdesk.showConversations()`` on a host page, in Chromium: it opens the chat on the
visitor's list of conversations, called directly or queued before the loader ran."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, FrameLocator, Page, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import HostServer, make_site
from tests.conftest import LiveServer


def _host_page(host: HostServer, path: str, tag: str, head: str = "") -> str:
    return host.add(
        path,
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"{head}{tag}</head><body><h1>Shop</h1></body></html>",
    )


def _send(frame: FrameLocator, text: str, sent: int) -> None:
    box = frame.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(frame.locator(".confirmed .msg.me")).to_have_count(sent)


def _start_two_conversations(page: Page) -> FrameLocator:
    page.evaluate("window.chatdesk.open()")
    frame = page.frame_locator("iframe[title=Chat]")
    _send(frame, "Where is my parcel?", 1)
    frame.get_by_role("button", name="Your conversations").click()
    frame.get_by_role("button", name="New conversation").click()
    expect(frame.locator(".confirmed .msg")).to_have_count(0)
    _send(frame, "Do you sell gift cards?", 1)
    return frame


def _expect_the_list(page: Page, frame: FrameLocator) -> None:
    expect(page.locator("iframe[title=Chat]")).to_be_visible()
    expect(page.get_by_role("button", name="Close chat")).to_have_attribute("aria-expanded", "true")
    listing = frame.get_by_role("region", name="Your conversations")
    expect(listing).to_be_visible()
    expect(listing.get_by_role("heading", name="Your conversations")).to_be_visible()
    expect(listing.get_by_role("button", name="New conversation")).to_be_visible()
    items = listing.get_by_role("listitem")
    expect(items).to_have_count(2)
    # Newest first.
    expect(items.nth(0)).to_contain_text("Do you sell gift cards?")
    expect(items.nth(1)).to_contain_text("Where is my parcel?")


def test_show_conversations_opens_the_chat_on_the_visitors_list(
    settings: Settings, live_server: LiveServer, host: HostServer, context: BrowserContext
) -> None:
    site = make_site(settings, "Shop", [host.url], prechat_name="off", prechat_email="off")
    tag = (
        f'<script src="{live_server.url}/widget.js" data-site="{site["site_key"]}" async></script>'
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(_host_page(host, "/shop", tag))
    expect(page.get_by_role("button", name="Open chat")).to_be_visible()
    frame = _start_two_conversations(page)
    listing = frame.get_by_role("region", name="Your conversations")
    expect(listing).to_have_count(0)  # the chat view, not the list
    page.evaluate("window.chatdesk.close()")
    expect(page.locator("iframe[title=Chat]")).to_be_hidden()

    # Closed: the call opens the chat, on the list.
    page.evaluate("window.chatdesk.showConversations()")
    _expect_the_list(page, frame)
    # Called again it keeps the list (unlike the header's button, it does not toggle).
    page.evaluate("window.chatdesk.showConversations()")
    page.evaluate("window.chatdesk.showConversations()")
    _expect_the_list(page, frame)

    # Open on a conversation: the call brings the list back.
    listing.get_by_role("listitem").nth(1).get_by_role("button").click()
    expect(frame.locator(".confirmed .bubble", has_text="Where is my parcel?")).to_be_visible()
    expect(listing).to_have_count(0)
    page.evaluate("window.chatdesk.push(['showConversations'])")
    _expect_the_list(page, frame)

    # Anyone but the host page is not heard: the frame posting to itself (chatdesk's
    # origin, not the page's) does not switch the chat to the list.
    listing.get_by_role("listitem").nth(0).get_by_role("button").click()
    expect(listing).to_have_count(0)
    chat = page.frame(url=re.compile(r"/widget/frame\?"))
    assert chat is not None
    chat.evaluate("window.postMessage({chatdesk: 'conversations'}, '*')")
    page.wait_for_timeout(1500)
    expect(listing).to_have_count(0)

    # Queued before the loader ran: the page opens with the list shown.
    queued = context.new_page()
    queued.on("pageerror", lambda error: problems.append(str(error)))
    queued.goto(
        _host_page(
            host,
            "/account",
            tag,
            head='<script>window.chatdesk = [["showConversations"]];</script>',
        )
    )
    _expect_the_list(queued, queued.frame_locator("iframe[title=Chat]"))
    assert problems == [], problems
