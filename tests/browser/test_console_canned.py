"""Canned responses in the browser: variables filled on insert, responses of the
conversation's site only, editing in place, and mistakes told in words."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DESKTOP,
    PHONE,
    DialogWatch,
    OperatorApi,
    Visitor,
    check_layout,
    direct_operator,
    new_page,
    screenshot,
    sign_in_with,
)
from tests.conftest import LiveServer

GREETING = "Hi {{visitor.name}}, I'm {{operator.name}} from {{site.name}}. Order {{order.id}}?"


def _insert(page: Page, typed: str) -> None:
    composer = page.get_by_label("Reply")
    composer.fill(typed)
    expect(page.get_by_role("listbox", name="Canned responses")).to_be_visible()
    composer.press("Enter")


def test_variables_are_filled_on_insert_with_the_sites_responses_only(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Olivia Owner")
    setup = OperatorApi(url, owner)
    shop = setup.create_site("Shop")
    blog = setup.create_site("Blog", allowed_origins=["https://blog.example.com"])
    canned = "/api/v1/canned-responses"
    setup.call("POST", canned, {"shortcut": "hi", "body": GREETING}, 201)
    setup.call("POST", canned, {"shortcut": "ship", "body": "Ships in 2 days"}, 201)
    shop_ship = {"shortcut": "ship", "body": "Shop orders ship today", "site_id": shop["id"]}
    setup.call("POST", canned, shop_ship, 201)
    blog_only = {"shortcut": "posts", "body": "New posts weekly", "site_id": blog["id"]}
    setup.call("POST", canned, blog_only, 201)
    vera = Visitor(url, shop["site_key"], {"name": "Vera Visitor"})
    vera.start("Hello?")
    nameless = Visitor(url, shop["site_key"])
    nameless.start("Anyone there?")

    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, f"/admin/conversations/{vera.conversation_id}")
        composer = page.get_by_label("Reply")
        composer.fill("/")
        menu = page.get_by_role("listbox", name="Canned responses")
        # The shop's conversation: the global ones and the shop's (which replaces the
        # global /ship), never the blog's.
        expect(menu.get_by_role("option")).to_have_count(2)
        expect(menu).to_contain_text("/hi")
        expect(menu.get_by_role("option").nth(1)).to_contain_text("Shop orders ship today")
        expect(menu).not_to_contain_text("/posts")
        # The menu previews the text as it will be inserted.
        expect(menu.get_by_role("option").first).to_contain_text("Hi Vera Visitor")

        _insert(page, "/hi")
        filled = "Hi Vera Visitor, I'm Olivia Owner from Shop. Order {{order.id}}?"
        expect(composer).to_have_value(filled)
        composer.press("Enter")
        expect(page.get_by_role("list", name="Messages").locator(".msg-operator")).to_have_count(1)
        assert vera.messages()[-1]["body"] == filled

        # A visitor who gave no name is greeted all the same.
        page.goto(f"{url}/admin/conversations/{nameless.conversation_id}")
        expect(page.locator("#conversation-title")).to_have_text("Visitor")
        _insert(page, "/hi")
        expect(composer).to_have_value("Hi there, I'm Olivia Owner from Shop. Order {{order.id}}?")
        assert watch.seen == [] and watch.errors == []
    setup.close()
    vera.close()
    nameless.close()


def test_editing_in_place_with_mistakes_told_in_words(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    shop = setup.create_site("Shop")
    canned = "/api/v1/canned-responses"
    hi = setup.call("POST", canned, {"shortcut": "hi", "body": "Hi {{visitor.name}}!"}, 201)
    setup.call(
        "POST",
        canned,
        {"shortcut": "returns", "body": "Returns are free for 30 days.", "site_id": shop["id"]},
        201,
    )
    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, "/admin/settings/canned")
        table = page.get_by_role("table", name="Canned responses")
        returns_row = table.get_by_role("row").filter(has_text="/returns")
        expect(returns_row).to_contain_text("Shop")
        expect(table.get_by_role("row").filter(has_text="/hi")).to_contain_text("Every site")
        check_layout(page)
        screenshot(page, screenshot_dir, "console-canned-desktop")

        # The shortcut's pattern is one Chromium applies (valid with the "v" flag).
        shortcut = page.get_by_label("Shortcut")
        pattern = shortcut.get_attribute("pattern")
        assert page.evaluate("(p) => { new RegExp(`^(?:${p})$`, 'v'); return true; }", pattern)
        shortcut.fill("has space")
        assert shortcut.evaluate("(input) => input.validity.patternMismatch") is True
        shortcut.fill("/Refund")
        assert shortcut.evaluate("(input) => input.validity.patternMismatch") is False

        # Mistakes in the new-response form, in words beside their fields.
        add = page.get_by_role("form", name="Add a canned response")
        shortcut.fill("has space")
        add.get_by_role("button", name="Add canned response").click()
        expect(add.get_by_text("Use only letters, digits, - and _")).to_be_visible()
        expect(shortcut).to_have_attribute("aria-invalid", "true")
        expect(shortcut).to_be_focused()
        expect(add.get_by_text("Write the text of the response.")).to_be_visible()
        shortcut.fill("hi")
        page.get_by_label("Response text").fill("Hello again")
        add.get_by_role("button", name="Add canned response").click()
        expect(add.get_by_text("/hi is already used for every site.")).to_be_visible()
        expect(page.get_by_text("Use only letters")).to_have_count(0)
        expect(page.get_by_label("Response text")).not_to_have_attribute("aria-invalid", "true")
        # For the shop alone, /hi is free (the shop's replaces the global one there).
        page.get_by_label("Used on").select_option(label="Shop")
        add.get_by_role("button", name="Add canned response").click()
        expect(page.get_by_role("status")).to_have_text("/hi was added.")
        expect(table.get_by_role("row").filter(has_text="Hello again")).to_contain_text("Shop")

        # Edit in place: the row becomes a form and back, the table stays where it was.
        edit = table.get_by_role("button", name="Edit /returns")
        expect(edit).to_be_visible()
        expect(page.get_by_role("button", name="Edit /hi")).to_have_count(2)
        edit.click()
        form = page.get_by_role("form", name="Edit /returns")
        expect(form.get_by_label("Response text")).to_have_value("Returns are free for 30 days.")
        form.get_by_label("Response text").fill("   ")
        form.get_by_label("Shortcut").fill("")
        form.get_by_role("button", name="Save").click()
        expect(form.get_by_text("Enter a shortcut.")).to_be_visible()
        expect(form.get_by_text("Write the text of the response.")).to_be_visible()
        screenshot(page, screenshot_dir, "console-canned-edit-desktop")
        page.set_viewport_size(PHONE)
        check_layout(page)
        screenshot(page, screenshot_dir, "console-canned-edit-phone")
        page.set_viewport_size(DESKTOP)
        form.get_by_label("Shortcut").fill("returns")
        form.get_by_label("Response text").fill("Returns are free for **60** days.")
        form.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("/returns was saved.")
        expect(form).to_have_count(0)
        saved_row = table.get_by_role("row").filter(has_text="/returns")
        expect(saved_row).to_contain_text("Returns are free for **60** days.")
        expect(table.get_by_role("button", name="Edit /returns")).to_be_focused()
        listed = {
            c["shortcut"] + str(c["site_id"]): c
            for c in setup.call("GET", canned)["canned_responses"]
        }
        assert listed["returns" + shop["id"]]["body"] == "Returns are free for **60** days."
        assert listed["hiNone"] == hi

        # Moving a response to a scope where its shortcut is taken is refused in words.
        table.get_by_role("button", name="Edit /hi").nth(1).click()
        form = page.get_by_role("form", name="Edit /hi")
        form.get_by_label("Used on").select_option(label="Every site")
        form.get_by_role("button", name="Save").click()
        expect(form.get_by_text("/hi is already used for every site.")).to_be_visible()
        form.get_by_role("button", name="Cancel").click()
        expect(page.get_by_role("form", name="Edit /hi")).to_have_count(0)

        page.set_viewport_size(PHONE)
        check_layout(page)
        screenshot(page, screenshot_dir, "console-canned-phone", full_page=True)
        assert watch.seen == [] and watch.errors == []
    setup.close()
