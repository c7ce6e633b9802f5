"""A support operator's shift in a real browser against a live server."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DialogWatch,
    OperatorApi,
    Visitor,
    direct_operator,
    new_page,
    row,
    sign_in,
)
from tests.conftest import LiveServer


def test_full_shift(browser: Browser, live_server: LiveServer, settings: Settings) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Olivia Owner")
    setup = OperatorApi(url, owner)
    site = setup.create_site("Shop")
    setup.create_operator("agent", "Tom Teammate")
    setup.call(
        "POST",
        "/api/v1/canned-responses",
        {"shortcut": "thanks", "body": "Thanks for reaching out!"},
        201,
    )
    bob = Visitor(url, site["site_key"], {"name": "Bob Builder", "email": "bob@example.com"})
    bob.start("Where is my order 77?")

    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in(page, url, owner)
        expect(row(page, "Bob Builder")).to_be_visible()
        # A new conversation arrives while the page is open.
        vera = Visitor(
            url,
            site["site_key"],
            {
                "name": "Vera Visitor",
                "email": "vera@example.com",
                "page_url": "https://shop.example.com/pricing",
                "timezone": "Asia/Tokyo",
            },
        )
        vera.start("Hi, do you ship to Japan?")
        vera_row = row(page, "Vera Visitor")
        expect(vera_row).to_contain_text("Hi, do you ship to Japan?")
        expect(vera_row.locator(".badge")).to_have_text("1")
        expect(page).to_have_title("(2) chatdesk")  # Bob's message waits too
        expect(page.locator("#conversation-list li.row").first).to_contain_text("Vera Visitor")

        # Open it: transcript, visitor panel, and it is marked read.
        vera_row.get_by_role("link").click()
        expect(page).to_have_url(f"{url}/admin/conversations/{vera.conversation_id}")
        transcript = page.get_by_role("list", name="Messages")
        expect(transcript.locator(".msg-visitor")).to_contain_text("Hi, do you ship to Japan?")
        expect(vera_row.locator(".badge")).to_have_count(0)
        expect(page).to_have_title("(1) chatdesk")
        panel = page.get_by_role("complementary", name="Visitor details")
        expect(panel).to_contain_text("vera@example.com")
        expect(panel).to_contain_text("Chrome 120 on macOS")
        expect(panel).to_contain_text("Asia/Tokyo")
        expect(panel).to_contain_text("https://shop.example.com/pricing")

        # Reply with Enter; the visitor receives exactly one copy.
        composer = page.get_by_label("Reply")
        composer.fill("Yes, we ship worldwide.")
        composer.press("Enter")
        expect(transcript.locator(".msg-operator")).to_contain_text("Yes, we ship worldwide.")
        expect(composer).to_have_value("")
        assert [m["body"] for m in vera.messages()] == [
            "Hi, do you ship to Japan?",
            "Yes, we ship worldwide.",
        ]

        # The visitor types, then writes again: both show up live.
        vera.typing()
        expect(page.locator("#typing-indicator")).to_contain_text("Vera Visitor is typing")
        vera.say("Great, how long does it take?")
        expect(transcript.locator(".msg-visitor").nth(1)).to_have_text(
            re.compile("Great, how long does it take?")
        )
        expect(page.locator("#typing-indicator")).to_have_text("")

        # A canned response via /shortcut, plus a second line with Shift+Enter.
        composer.fill("/tha")
        expect(page.get_by_role("listbox", name="Canned responses")).to_contain_text("/thanks")
        composer.press("Enter")
        expect(composer).to_have_value("Thanks for reaching out!")
        composer.press("Shift+Enter")
        composer.press_sequentially("About 5 days.")
        composer.press("Enter")
        expect(transcript.locator(".msg-operator")).to_have_count(2)
        assert vera.messages()[-1]["body"] == "Thanks for reaching out!\nAbout 5 days."

        # A private note: shown as a note, never sent to the visitor.
        page.get_by_label("Private note").check()
        note_box = page.get_by_label("Note for your team")
        note_box.fill("Customer is a VIP")
        note_box.press("Enter")
        note = transcript.locator(".msg-note")
        expect(note).to_contain_text("Customer is a VIP")
        expect(note.locator(".note-tag")).to_have_text("Private note")
        assert "Customer is a VIP" not in [m["body"] for m in vera.messages()]
        page.get_by_label("Private note").uncheck()

        # Assign to a teammate, then to me with the keyboard.
        page.get_by_label("Assignee", exact=True).select_option(label="Tom Teammate")
        expect(vera_row).to_contain_text("→ Tom Teammate")
        page.locator("#conversation-title").click()
        page.keyboard.press("a")
        expect(page.get_by_label("Assignee", exact=True)).to_have_value(owner.id)
        expect(vera_row).to_contain_text("→ You")

        # Label it.
        page.get_by_label("Add label").fill("shipping")
        page.get_by_label("Add label").press("Enter")
        expect(page.get_by_role("list", name="Labels")).to_contain_text("shipping")
        expect(vera_row.locator(".chip")).to_have_text("shipping")

        # Resolve with the keyboard.
        page.locator("#conversation-title").click()
        page.keyboard.press("e")
        expect(page.get_by_label("Status", exact=True)).to_have_value("resolved")
        expect(page.get_by_role("button", name="Reopen")).to_be_visible()

        # Filters and search.
        page.get_by_label("Filter by status").select_option("resolved")
        expect(row(page, "Vera Visitor")).to_be_visible()
        expect(row(page, "Bob Builder")).to_have_count(0)
        page.get_by_label("Filter by status").select_option("")
        page.get_by_label("Filter by label").select_option("shipping")
        expect(row(page, "Vera Visitor")).to_be_visible()
        expect(row(page, "Bob Builder")).to_have_count(0)
        page.get_by_label("Filter by label").select_option("")
        page.get_by_label("Filter by assignee").select_option("unassigned")
        expect(row(page, "Bob Builder")).to_be_visible()
        expect(row(page, "Vera Visitor")).to_have_count(0)
        page.get_by_label("Filter by assignee").select_option("")
        page.get_by_label("Search conversations").fill("order 77")
        expect(row(page, "Bob Builder")).to_be_visible()
        expect(row(page, "Vera Visitor")).to_have_count(0)
        page.get_by_label("Search conversations").fill("japan")
        expect(row(page, "Vera Visitor")).to_be_visible()
        expect(row(page, "Bob Builder")).to_have_count(0)

        # The server agrees with what the page shows.
        final = setup.call("GET", f"/api/v1/conversations/{vera.conversation_id}")
        assert final["status"] == "resolved"
        assert final["assignee_id"] == owner.id
        assert final["labels"] == ["shipping"]
        assert watch.seen == []
        assert watch.errors == []
    for client in (setup, bob, vera):
        client.close()


def test_deep_link_after_sign_in(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    visitor = Visitor(url, site["site_key"], {"name": "Dana Deeplink"})
    visitor.start("Is this link shareable?")
    with new_page(browser) as page:
        sign_in(page, url, owner, path=f"/admin/conversations/{visitor.conversation_id}")
        expect(page).to_have_url(f"{url}/admin/conversations/{visitor.conversation_id}")
        expect(page.get_by_role("heading", name="Dana Deeplink")).to_be_visible()
        expect(page.get_by_role("list", name="Messages")).to_contain_text("Is this link shareable?")
    setup.close()
    visitor.close()
