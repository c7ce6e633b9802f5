"""Several conversations per visitor (issue 16, part 5) in Chromium: the list (loaded only
when asked for), "New conversation", a resolved one still readable, unread marks, and
live replies in the second conversation and in the one not shown."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, expect

from chatdesk.settings import Settings
from tests.browser.widget_helpers import OperatorApi, make_site, open_widget
from tests.conftest import LiveServer


def _by_first_words(operator: OperatorApi, words: str) -> dict[str, Any]:
    for conversation in operator.conversations():
        if conversation["last_message"]["preview"].startswith(words):
            return conversation
    for conversation in operator.conversations():
        bodies = [m["body"] for m in operator.messages(conversation["id"])]
        if any(b.startswith(words) for b in bodies):
            return conversation
    raise AssertionError(f"no conversation with {words!r}")


def test_the_visitor_starts_a_second_conversation_and_switches_between_them(
    visitor: BrowserContext, operator: OperatorApi, live_server: LiveServer, settings: Settings
) -> None:
    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    page = visitor.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(urlsplit(request.url).path))
    page.goto(live_server.url + "/demo")
    frame = open_widget(page)
    box = frame.get_by_role("textbox", name="Message")
    box.fill("Where is my parcel?")
    box.press("Enter")
    expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(["Where is my parcel?"])
    # With one conversation the list's module is not loaded until it is asked for.
    list_button = frame.get_by_role("button", name="Your conversations")
    expect(list_button).to_be_visible()
    assert not [path for path in loaded if path.endswith("/widget/list.js")]

    first = _by_first_words(operator, "Where is my parcel")
    operator.reply(first["id"], "It left our warehouse today.")
    expect(
        frame.locator(".confirmed .bubble", has_text="It left our warehouse today.")
    ).to_be_visible()
    resolved = operator.http.patch(
        f"/api/v1/conversations/{first['id']}",
        json={"status": "resolved"},
        headers={"X-CSRF-Token": operator.csrf},
    )
    assert resolved.status_code == 200, resolved.text

    # New conversation: an empty chat; the next message starts another conversation.
    list_button.click()
    expect(list_button).to_have_attribute("aria-expanded", "true")
    listing = frame.get_by_role("region", name="Your conversations")
    expect(listing.get_by_role("listitem")).to_have_count(1)
    expect(listing.get_by_text("Resolved")).to_be_visible()
    assert [path for path in loaded if path.endswith("/widget/list.js")]
    frame.get_by_role("button", name="New conversation").click()
    expect(frame.locator(".confirmed .msg")).to_have_count(0)
    box.fill("Do you sell gift cards?")
    box.press("Enter")
    expect(frame.locator(".confirmed .msg.me .bubble")).to_have_text(["Do you sell gift cards?"])
    second = _by_first_words(operator, "Do you sell gift cards")
    assert second["id"] != first["id"]
    assert len(operator.conversations()) == 2

    # Live events in the second conversation.
    operator.reply(second["id"], "Yes, from 10 to 500 euros.")
    expect(
        frame.locator(".confirmed .bubble", has_text="Yes, from 10 to 500 euros.")
    ).to_be_visible()
    expect(
        frame.locator(".confirmed .bubble", has_text="It left our warehouse today.")
    ).to_have_count(0)

    # A reply in the first (resolved) conversation while the second is shown: not drawn
    # here, the list's button is marked, and the list counts it.
    operator.reply(first["id"], "One more thing: it needs a signature.")
    expect(list_button).to_have_attribute("data-unread", "")
    expect(frame.locator(".confirmed .bubble", has_text="One more thing")).to_have_count(0)
    list_button.click()
    items = listing.get_by_role("listitem")
    expect(items).to_have_count(2)
    # Newest first: the first conversation has the latest message now.
    expect(items.nth(0)).to_contain_text("One more thing")
    expect(items.nth(0)).to_contain_text("1 new")
    expect(items.nth(1)).to_contain_text("Yes, from 10 to 500 euros.")
    expect(items.nth(1).get_by_role("button")).to_have_attribute("aria-current", "true")

    # The resolved conversation stays readable: its history, and the rating question.
    items.nth(0).get_by_role("button").click()
    expect(frame.locator(".confirmed .bubble", has_text="Where is my parcel?")).to_be_visible()
    expect(
        frame.locator(".confirmed .bubble", has_text="It left our warehouse today.")
    ).to_be_visible()
    expect(
        frame.locator(".confirmed .bubble", has_text="One more thing: it needs a signature.")
    ).to_be_visible()
    expect(frame.locator(".confirmed .bubble", has_text="Do you sell gift cards?")).to_have_count(0)
    expect(list_button).not_to_have_attribute("data-unread", "")
    # Read: the list's unread mark is gone (the receipt reached the server).
    list_button.click()
    expect(items.nth(0)).not_to_contain_text("new")
    # And back to the second, where live replies keep arriving.
    items.nth(1).get_by_role("button").click()
    expect(
        frame.locator(".confirmed .bubble", has_text="Yes, from 10 to 500 euros.")
    ).to_be_visible()
    operator.reply(second["id"], "They never expire.")
    expect(frame.locator(".confirmed .bubble", has_text="They never expire.")).to_be_visible()

    # A reload comes back to the newest conversation, with the list intact.
    page.reload()
    frame = open_widget(page)
    expect(frame.locator(".confirmed .bubble", has_text="They never expire.")).to_be_visible()
    frame.get_by_role("button", name="Your conversations").click()
    expect(
        frame.get_by_role("region", name="Your conversations").get_by_role("listitem")
    ).to_have_count(2)
    assert problems == []
