"""Snooze, the timeline and read receipts in real browsers: the widget and the console
open side by side, each seeing what the other read; the console's snooze control and
timeline lines, which the widget never shows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DESKTOP,
    PHONE,
    DialogWatch,
    OperatorApi,
    check_layout,
    direct_operator,
    new_page,
    row,
    screenshot,
    sign_in_with,
)
from tests.browser.widget_helpers import make_site
from tests.conftest import LiveServer


def test_receipts_timeline_and_snooze_between_widget_and_console(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    url = live_server.url
    make_site(settings, "Demo shop", [url], prechat_name="off", prechat_email="off")
    owner = direct_operator(settings, "owner", "Olivia Owner")
    setup = OperatorApi(url, owner)
    with new_page(browser, DESKTOP) as widget_page, new_page(browser, DESKTOP) as console:
        watch = DialogWatch(console)
        widget_page.goto(url + "/demo")
        widget_page.get_by_role("button", name="Open chat").click()
        frame = widget_page.frame_locator("iframe[title=Chat]")
        box = frame.get_by_role("textbox", name="Message")
        box.fill("Hello, is my order on its way?")
        box.press("Enter")
        mine = frame.locator(".confirmed .msg.me")
        expect(mine).to_have_count(1)
        expect(mine.locator(".seen")).to_have_count(0)

        # The console opens it: the visitor sees "Seen" under their message.
        sign_in_with(console, setup)
        row(console, "Hello, is my order").get_by_role("link").click()
        transcript = console.get_by_role("list", name="Messages")
        expect(transcript.locator("li.msg")).to_have_count(1)
        expect(mine.locator(".seen")).to_have_text("Seen")

        # The operator replies; the widget is open and visible, so it reads it at once.
        composer = console.get_by_label("Reply")
        composer.fill("Yes, it left this morning.")
        composer.press("Enter")
        reply = transcript.locator("li.msg-operator")
        expect(reply).to_contain_text("Yes, it left this morning.")
        expect(reply.locator(".seen-mark")).to_have_text("Seen")

        # Changes appear as quiet lines between the messages, saying who made them: the
        # reply assigned the conversation to its writer (the site assigns on reply).
        expect(console.get_by_role("button", name="Assign to me")).to_be_disabled()
        console.get_by_label("Add label").fill("shipping")
        console.get_by_role("button", name="Add", exact=True).click()
        lines = transcript.locator("li.timeline")
        expect(lines).to_have_text(
            [
                re.compile("You took this conversation"),
                re.compile("You added label shipping"),
            ]
        )
        expect(transcript.locator("li.msg")).to_have_count(2)  # messages, not lines

        # Snooze with a preset: the console says until when, the inbox moves it away.
        console.get_by_role("button", name="Snooze", exact=True).click()
        console.get_by_role("button", name=re.compile("^Tomorrow")).click()
        note = console.locator("#snooze-note")
        expect(note).to_have_text(re.compile(r"^Snoozed until .*9:00|^Snoozed until .*09:00"))
        expect(lines.last).to_contain_text("Snoozed until")
        expect(console.get_by_label("Status", exact=True)).to_have_value("snoozed")
        # The open conversation stays listed until the operator moves on (as when resolved).
        listed = row(console, "Yes, it left this morning.")  # the last message's preview
        expect(listed).to_contain_text("snoozed")
        console.get_by_label("Filter by status").select_option("snoozed")
        expect(listed).to_have_count(1)

        # A custom time from the date-time picker.
        console.get_by_role("button", name="Snooze", exact=True).click()
        later = (datetime.now() + timedelta(days=3)).replace(hour=14, minute=30)
        console.get_by_label("Date and time").fill(later.strftime("%Y-%m-%dT%H:%M"))
        console.get_by_role("button", name="Snooze until then").click()
        expect(lines).to_have_count(4)
        expect(note).to_contain_text("Snoozed until")
        check_layout(console)
        screenshot(console, screenshot_dir, "conversation-timeline-1280")
        console.get_by_role("button", name="Snooze", exact=True).click()
        screenshot(console, screenshot_dir, "snooze-menu-1280")
        console.get_by_role("button", name="Snooze", exact=True).click()

        # The widget saw none of it: the conversation looks open, two messages only.
        expect(frame.locator(".confirmed .msg")).to_have_count(2)
        frame_text = frame.locator(".confirmed").inner_text()
        assert "Snoozed" not in frame_text and "shipping" not in frame_text

        # The visitor writes: the snooze ends, said in the console's transcript.
        box.fill("Thanks! One more question.")
        box.press("Enter")
        expect(lines.last).to_have_text(re.compile("Snooze ended: the visitor wrote"))
        expect(console.get_by_label("Status", exact=True)).to_have_value("open")
        expect(note).to_be_hidden()
        # The console read the new message while open and visible: "Seen" moves there,
        # and under the reply the visitor had read it stays.
        expect(mine.locator(".seen")).to_have_count(1)
        expect(mine.last.locator(".seen")).to_have_text("Seen")
        assert watch.errors == [] and watch.seen == []
        console.set_viewport_size(PHONE)
        check_layout(console)
        screenshot(console, screenshot_dir, "conversation-timeline-390")
    setup.close()
