"""Inbox behaviour: paging, keyboard shortcuts, typing out, notifications and preferences."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from chatdesk.actions.maintenance import purge_events
from chatdesk.db.runner import Database
from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    OperatorApi,
    Visitor,
    bulk_conversations,
    direct_operator,
    new_page,
    row,
    sign_in_with,
)
from tests.conftest import LiveServer

FAKE_NOTIFICATION = """
window.__notes = [];
window.Notification = class {
  static permission = 'granted';
  static requestPermission() { return Promise.resolve('granted'); }
  constructor(title, options) { window.__notes.push(title + ' | ' + (options && options.body)); }
  close() {}
};
"""


def test_paging_loads_more_without_duplicates(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    setup.close()
    bulk_conversations(settings, site["site_key"], 30)
    with new_page(browser) as page:
        sign_in_with(page, setup)
        rows = page.locator("#conversation-list li.row")
        expect(rows).to_have_count(25)
        expect(rows.first).to_contain_text("Bulk Visitor 29")
        more = page.get_by_role("button", name="Load more conversations")
        more.scroll_into_view_if_needed()  # infinite scroll: reaching the end loads the next page
        expect(rows).to_have_count(30)
        expect(rows.last).to_contain_text("Bulk Visitor 00")
        expect(more).to_be_hidden()
        ids = rows.evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert len(set(ids)) == 30


def test_keyboard_shortcuts_and_typing_signal(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    visitors = []
    for name in ("Ann First", "Ben Second", "Cat Third"):
        visitor = Visitor(url, site["site_key"], {"name": name})
        visitor.start(f"Hello from {name}")
        visitors.append(visitor)
    newest, middle = visitors[2], visitors[1]
    with new_page(browser) as page:
        sign_in_with(page, setup)
        expect(page.locator("#conversation-list li.row")).to_have_count(3)
        page.keyboard.press("j")
        expect(page).to_have_url(f"{url}/admin/conversations/{newest.conversation_id}")
        page.keyboard.press("j")
        expect(page).to_have_url(f"{url}/admin/conversations/{middle.conversation_id}")
        expect(page.get_by_role("heading", name="Ben Second")).to_be_visible()
        page.keyboard.press("k")
        expect(page).to_have_url(f"{url}/admin/conversations/{newest.conversation_id}")
        page.keyboard.press("r")
        composer = page.get_by_label("Reply")
        expect(composer).to_be_focused()
        # Letters typed into the composer are text, not shortcuts; typing is signalled.
        with page.expect_request(re.compile(r"/typing$")) as typing:
            composer.press_sequentially("jk")
        assert typing.value.post_data_json == {"private": False}
        expect(composer).to_have_value("jk")
        expect(page).to_have_url(f"{url}/admin/conversations/{newest.conversation_id}")
        composer.press("Escape")
        expect(composer).not_to_be_focused()
        page.keyboard.press("/")
        expect(composer).to_be_focused()
        composer.press("Escape")
        page.keyboard.press("a")
        expect(row(page, "Cat Third")).to_contain_text("→ You")
        page.keyboard.press("e")
        expect(page.get_by_role("button", name="Reopen")).to_be_visible()
        page.keyboard.press("?")
        dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        # Back/forward follow the conversations opened.
        page.go_back()
        expect(page).to_have_url(f"{url}/admin/conversations/{middle.conversation_id}")
        expect(page.get_by_role("heading", name="Ben Second")).to_be_visible()
        # Each conversation keeps its own draft.
        expect(composer).to_have_value("")
        page.go_forward()
        expect(page.get_by_role("heading", name="Cat Third")).to_be_visible()
        expect(composer).to_have_value("jk")
    setup.close()
    for visitor in visitors:
        visitor.close()


def test_notifications_badge_and_preferences(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    with new_page(browser) as page:
        page.add_init_script(FAKE_NOTIFICATION)
        sign_in_with(page, setup)
        expect(page).to_have_title("chatdesk")
        nora = Visitor(url, site["site_key"], {"name": "Nora Notify"})
        nora.start("Anyone around?")
        expect(page).to_have_title("(1) chatdesk")
        notes = "() => window.__notes"
        page.wait_for_function("() => window.__notes.length === 1")
        assert page.evaluate(notes) == ["New conversation from Nora Notify | Anyone around?"]

        setup.call(
            "PATCH", f"/api/v1/conversations/{nora.conversation_id}", {"assignee_id": owner.id}
        )
        expect(row(page, "Nora Notify")).to_contain_text("→ You")
        nora.say("Hello again")
        expect(page).to_have_title("(2) chatdesk")
        page.wait_for_function("() => window.__notes.length === 2")
        assert page.evaluate(notes)[1] == "New message from Nora Notify | Hello again"

        page.locator("details.menu > summary").click()
        page.get_by_label("Desktop notifications").uncheck()
        page.get_by_label("Sound on new messages").uncheck()
        nora.say("Third time")
        expect(page).to_have_title("(3) chatdesk")
        expect(row(page, "Nora Notify")).to_contain_text("Third time")
        assert len(page.evaluate(notes)) == 2

        page.reload()
        page.locator("details.menu > summary").click()
        expect(page.get_by_label("Desktop notifications")).not_to_be_checked()
        expect(page.get_by_label("Sound on new messages")).not_to_be_checked()
        nora.close()
    setup.close()


def test_expired_cursor_resyncs_over_rest(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    setup.close()
    old = Visitor(url, site["site_key"], {"name": "Olga Old"})
    old.start("Before the purge")
    with new_page(browser) as page:
        sign_in_with(page, setup, f"/admin/conversations/{old.conversation_id}")
        transcript = page.get_by_role("list", name="Messages")
        expect(transcript.locator(".msg")).to_have_count(1)
        live_server.stop()
        db = Database(settings.database_url)
        db.start()
        try:
            # Every event the page has seen is purged: its cursor is now expired (410).
            from datetime import timedelta

            assert db.write_sync(purge_events, db.clock() + timedelta(seconds=1)) > 0
        finally:
            db.stop()
        live_server.start()
        new = Visitor(url, site["site_key"], {"name": "Nils New"})
        new.start("After the purge")
        expect(row(page, "Nils New")).to_be_visible(timeout=15000)
        old.say("Still here after the purge")
        expect(transcript.locator(".msg-body")).to_have_text(
            ["Before the purge", "Still here after the purge"]
        )
        new.close()
    old.close()


def test_site_filter_and_past_conversations(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    shop = setup.create_site("Shop")
    blog = setup.create_site("Blog")
    returning = Visitor(url, shop["site_key"], {"name": "Rex Returning"})
    returning.start("My first question, last week")
    first_id = returning.conversation_id
    returning.start("A second question today")
    reader = Visitor(url, blog["site_key"], {"name": "Bea Blogreader"})
    reader.start("Love the article")
    with new_page(browser) as page:
        sign_in_with(page, setup)
        rows = page.locator("#conversation-list li.row")
        expect(rows).to_have_count(3)
        page.get_by_label("Filter by site").select_option(label="Blog")
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("Bea Blogreader")
        page.get_by_label("Filter by site").select_option(label="Shop")
        expect(rows).to_have_count(2)
        # A new Blog conversation does not appear under the Shop filter.
        other = Visitor(url, blog["site_key"], {"name": "Otto Other"})
        other.start("Hello from the blog")
        page.get_by_label("Filter by site").select_option(label="All sites")
        expect(rows).to_have_count(4)
        expect(rows.first).to_contain_text("Otto Other")

        row(page, "A second question today").get_by_role("link").click()
        panel = page.get_by_role("complementary", name="Visitor details")
        expect(panel).to_contain_text("Shop")
        past = panel.get_by_role("link", name=re.compile("My first question"))
        expect(past).to_be_visible()
        past.click()
        expect(page).to_have_url(f"{url}/admin/conversations/{first_id}")
        expect(page.get_by_role("list", name="Messages")).to_contain_text(
            "My first question, last week"
        )
        other.close()
    for client in (setup, returning, reader):
        client.close()
