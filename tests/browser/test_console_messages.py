"""Messages that read well in the console and the widget: safe links, line breaks, a little
formatting, day separators and times in the operator's locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect

from chatdesk.db.runner import Database, Unit
from chatdesk.settings import Settings
from chatdesk.web.console_pages import CONSOLE_CSP
from tests.browser.console_helpers import (
    DESKTOP,
    PHONE,
    DialogWatch,
    OperatorApi,
    Visitor,
    check_layout,
    direct_operator,
    new_page,
    row,
    screenshot,
    sign_in_with,
)
from tests.conftest import LiveServer

REL = "noopener noreferrer nofollow ugc"
LINKED = "The tracking page is https://example.com/x — or write to help@example.com."
SCRIPT = "javascript:alert(1)"
DATA = "data:text/html,<script>alert(2)</script>"
FORMATTED = "**Order 77** ships _today_, use `CODE-42` at checkout.\n<b>not bold</b> stays text"


def _visitor_message(unit: Unit, token: str, conversation_id: str | None, body: str) -> str:
    """One visitor message by the real actions, at the time of the unit (the clock given)."""
    from chatdesk.actions.conversations import start_conversation
    from chatdesk.actions.messages import send_message
    from chatdesk.security.auth import visitor_from_token

    actor = visitor_from_token(unit.conn, token)
    assert actor is not None
    client_msg_id = f"old-{unit.now.timestamp()}"
    if conversation_id is None:
        conversation, _message, _created = start_conversation(unit, actor, body, client_msg_id)
        return str(conversation["id"])
    send_message(unit, actor, conversation_id, body, client_msg_id)
    return conversation_id


def _written_days_ago(settings: Settings, token: str, days: list[int]) -> str:
    """A conversation whose first messages were written ``days`` ago (oldest first)."""
    conversation_id: str | None = None
    for ago in days:
        when = datetime.now(UTC) - timedelta(days=ago)
        db = Database(settings.database_url, clock=lambda when=when: when)
        db.start()
        try:
            body = "Written yesterday" if ago == 1 else f"Written {ago} days ago"
            conversation_id = db.write_sync(_visitor_message, token, conversation_id, body)
        finally:
            db.stop()
    assert conversation_id is not None
    return conversation_id


def _message(transcript: Locator, text: str) -> Locator:
    return transcript.locator("li.msg").filter(has_text=text)


def _day_title(day: datetime, today: datetime) -> str:
    """What en-US Chromium shows for a day before yesterday."""
    title = f"{day:%A}, {day:%B} {day.day}"
    return title if day.year == today.year else f"{title}, {day.year}"


def test_links_formatting_and_days_in_the_console(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site("Shop")
    vera = Visitor(url, site["site_key"], {"name": "Vera Visitor"})
    conversation_id = _written_days_ago(settings, vera.token, [3, 1])
    vera.conversation_id = conversation_id
    for body in (LINKED, SCRIPT, DATA, FORMATTED):
        vera.say(body)

    with new_page(browser, timezone_id="UTC", locale="en-US") as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, f"/admin/conversations/{conversation_id}")
        transcript = page.get_by_role("list", name="Messages")
        expect(transcript.locator("li.msg")).to_have_count(6)

        # A link, opened in a new tab, telling the target nothing and vouching for nothing.
        link = transcript.get_by_role("link", name="https://example.com/x")
        expect(link).to_have_attribute("href", "https://example.com/x")
        expect(link).to_have_attribute("rel", REL)
        expect(link).to_have_attribute("target", "_blank")
        mail = transcript.get_by_role("link", name="help@example.com")
        expect(mail).to_have_attribute("href", "mailto:help@example.com")
        expect(mail).to_have_attribute("rel", REL)
        expect(_message(transcript, "The tracking page is").locator(".msg-body")).to_have_text(
            LINKED
        )
        # Other schemes stay text: no link, nothing run.
        for text in (SCRIPT, DATA):
            body = _message(transcript, text).locator(".msg-body")
            expect(body).to_have_text(text)
            expect(body.locator("a")).to_have_count(0)
        expect(transcript.locator("a[href^='javascript:'], a[href^='data:']")).to_have_count(0)
        expect(transcript.locator("script")).to_have_count(0)
        expect(transcript.locator("a")).to_have_count(2)

        # **bold**, _italic_, `code`; markup typed by someone stays the text it is.
        formatted = _message(transcript, "Order 77").locator(".msg-body")
        expect(formatted.locator("strong")).to_have_text("Order 77")
        expect(formatted.locator("em")).to_have_text("today")
        expect(formatted.locator("code")).to_have_text("CODE-42")
        expect(formatted.locator("b")).to_have_count(0)
        expect(formatted).to_contain_text("<b>not bold</b> stays text")
        # The line break is kept (innerText follows white-space: pre-wrap).
        assert "checkout.\n<b>not bold</b>" in formatted.inner_text()

        # One separator before each day's first message, the day in words.
        now = datetime.now(UTC)
        separators = transcript.locator("> li.day-separator")
        expect(separators).to_have_text(
            [_day_title(now - timedelta(days=3), now), "Yesterday", "Today"]
        )
        expect(separators.nth(1)).to_have_attribute("aria-label", "Yesterday")
        assert transcript.locator("> li").evaluate_all(
            "(items) => items.map((li) => li.classList.contains('day-separator') ? 'day' : 'msg')"
        ) == ["day", "msg", "day", "msg", "day", "msg", "msg", "msg", "msg"]
        # Message times are times of day (the separator says which day), in the locale's
        # format; the full date and time is in the title.
        stamp = _message(transcript, "Written 3 days ago").locator("time")
        expect(stamp).to_have_text(re.compile(r"^\d{1,2}:\d{2}\s?[AP]M$"))
        expect(stamp).to_have_attribute("title", re.compile(r"^\w{3} \d{1,2}, \d{4}, "))
        expect(page.locator("#conversation-subtitle")).to_contain_text(
            re.compile(r"Started \w{3} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s?[AP]M")
        )

        # The list says how long ago, in words, and previews the text without its markers.
        expect(row(page, "Vera Visitor").locator("time")).to_have_text(re.compile(r"^now$|ago$"))
        expect(row(page, "Vera Visitor").locator(".row-preview")).to_have_text(
            re.compile(r"^Order 77 ships today, use CODE-42 at checkout")
        )
        # The page's policy is as strict as ever; nothing broke it or showed a dialog.
        served = page.request.get(f"{url}/admin/conversations/{conversation_id}")
        assert served.headers["content-security-policy"] == CONSOLE_CSP
        assert watch.seen == [] and watch.errors == []

        # Tall enough at 1280 px to show every day of the transcript at once.
        for name, viewport in (("desktop", {**DESKTOP, "height": 1100}), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            if name == "phone":
                page.goto(f"{url}/admin/conversations/{conversation_id}")
                expect(transcript.locator("li.msg")).to_have_count(6)
            _message(transcript, "Order 77").scroll_into_view_if_needed()
            check_layout(page)
            screenshot(page, screenshot_dir, f"console-messages-{name}")
    setup.close()
    vera.close()


def test_relative_times_in_the_list_stay_fresh(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site("Shop")
    vera = Visitor(url, site["site_key"], {"name": "Vera Visitor"})
    vera.start("Hello?")
    with new_page(browser, timezone_id="UTC", locale="en-US") as page:
        page.clock.install()
        sign_in_with(page, setup)
        stamp = row(page, "Vera Visitor").locator("time")
        expect(stamp).to_have_text("now")
        expect(stamp).to_have_attribute("data-relative", "1")
        page.clock.fast_forward("05:30")
        expect(stamp).to_have_text("5 min. ago")
        page.clock.fast_forward("03:00:00")
        expect(stamp).to_have_text("3 hr. ago")
    setup.close()
    vera.close()


def _widget_frame(page: Page, url: str) -> Any:
    page.goto(url + "/demo")
    page.get_by_role("button", name="Open chat").click()
    return page.frame_locator("iframe[title=Chat]")


def test_links_and_formatting_in_the_widget(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    from tests.browser.widget_helpers import OperatorApi as WidgetOperator
    from tests.browser.widget_helpers import make_operator, make_site

    make_site(settings, "Demo shop", [live_server.url], prechat_name="off", prechat_email="off")
    operator = WidgetOperator(live_server, make_operator(settings))
    with new_page(browser, viewport={"width": 1280, "height": 800}) as page:
        watch = DialogWatch(page)
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url))
        frame = _widget_frame(page, live_server.url)
        box = frame.get_by_role("textbox", name="Message")
        box.fill("Hello, do you ship **today**?")
        box.press("Enter")
        mine = frame.locator(".confirmed .msg.me .bubble")
        expect(mine.locator("strong")).to_have_text("today")
        # No address in sight: the address finder (the widget's largest file) is not loaded.
        assert not [u for u in fetched if u.endswith("/linkify.mjs")]
        box.fill(f"See {SCRIPT} and {DATA}")
        box.press("Enter")
        expect(mine).to_have_text(["Hello, do you ship today?", f"See {SCRIPT} and {DATA}"])
        (conversation,) = operator.conversations()
        operator.reply(conversation["id"], f"{FORMATTED}\nDetails: https://example.com/x")
        reply = frame.locator(".confirmed .msg.them .bubble")
        expect(reply.locator("strong")).to_have_text("Order 77")
        expect(reply.locator("em")).to_have_text("today")
        expect(reply.locator("code")).to_have_text("CODE-42")
        expect(reply.locator("b")).to_have_count(0)
        expect(reply).to_contain_text("<b>not bold</b> stays text")
        link = reply.get_by_role("link", name="https://example.com/x")
        expect(link).to_have_attribute("href", "https://example.com/x")
        expect(link).to_have_attribute("rel", REL)
        expect(link).to_have_attribute("target", "_blank")
        expect(mine.locator("a")).to_have_count(0)
        assert len([u for u in fetched if u.endswith("/linkify.mjs")]) == 1
        # One day, one separator, above the day's first message.
        expect(frame.get_by_role("separator")).to_have_text(["Today"])
        assert frame.locator(".confirmed > *").evaluate_all(
            "(nodes) => nodes.map((node) => node.className)"
        ) == ["day-separator", "msg me", "msg me", "msg them"]
        assert watch.seen == [] and watch.errors == []
        screenshot(page, screenshot_dir, "widget-messages-desktop")
        page.set_viewport_size(PHONE)
        screenshot(page, screenshot_dir, "widget-messages-phone")
    operator.close()
