"""The rating in real browsers: the operator resolves the conversation, the widget asks
"How did we do?", the visitor rates 4 with a comment, the console shows it live; a
reload of the widget shows the stored rating instead of the form."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DESKTOP,
    DialogWatch,
    OperatorApi,
    direct_operator,
    new_page,
    row,
    screenshot,
    sign_in_with,
)
from tests.browser.widget_helpers import make_site
from tests.conftest import LiveServer


def test_the_visitor_rates_a_resolved_conversation_and_the_console_shows_it(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    url = live_server.url
    make_site(settings, "Demo shop", [url], prechat_name="off", prechat_email="off")
    owner = direct_operator(settings, "owner", "Olivia Owner")
    setup = OperatorApi(url, owner)
    with new_page(browser, DESKTOP) as widget_page, new_page(browser, DESKTOP) as console:
        problems: list[str] = []
        widget_page.on("pageerror", lambda error: problems.append(str(error)))
        watch = DialogWatch(console)
        widget_page.goto(url + "/demo")
        widget_page.get_by_role("button", name="Open chat").click()
        frame = widget_page.frame_locator("iframe[title=Chat]")
        box = frame.get_by_role("textbox", name="Message")
        box.fill("Can I change my delivery address?")
        box.press("Enter")
        expect(frame.locator(".confirmed .msg.me")).to_have_count(1)
        # Not resolved: no form.
        question = frame.get_by_text("How did we do?")
        expect(question).to_have_count(0)

        sign_in_with(console, setup)
        row(console, "Can I change my delivery").get_by_role("link").click()
        rating_note = console.locator("#conversation-rating")
        expect(rating_note).to_be_hidden()

        # The operator resolves it over the API: the widget's stream brings the form.
        [conversation] = setup.call("GET", "/api/v1/conversations")["conversations"]
        cid = conversation["id"]
        setup.call("PATCH", f"/api/v1/conversations/{cid}", {"status": "resolved"})
        expect(question).to_be_visible()
        scores = frame.get_by_role("group", name="How did we do?").get_by_role("button")
        expect(scores).to_have_count(5)
        for score in range(1, 6):
            expect(frame.get_by_role("button", name=f"Rate {score} out of 5")).to_be_visible()
        # Send without a score: asked to pick one, nothing stored.
        frame.get_by_role("button", name="Send rating").click()
        expect(frame.get_by_text("Please choose a score from 1 to 5.")).to_be_visible()
        assert setup.call("GET", f"/api/v1/conversations/{cid}")["rating"] is None

        four = frame.get_by_role("button", name="Rate 4 out of 5")
        four.click()
        expect(four).to_have_attribute("aria-pressed", "true")
        frame.get_by_label("Comment (optional)").fill("Quick and kind, thanks!")
        screenshot(widget_page, screenshot_dir, "widget-rating-form")
        frame.get_by_role("button", name="Send rating").click()
        expect(frame.get_by_text("Thank you for your feedback!")).to_be_visible()
        expect(frame.get_by_text("You rated this conversation 4 out of 5.")).to_be_visible()
        expect(frame.get_by_role("button", name="Rate 4 out of 5")).to_have_count(0)
        screenshot(widget_page, screenshot_dir, "widget-rating-thanks")

        stored = setup.call("GET", f"/api/v1/conversations/{cid}")["rating"]
        assert stored["score"] == 4 and stored["comment"] == "Quick and kind, thanks!"

        # The console shows it live: in the head and as a timeline line.
        expect(rating_note).to_have_text("Rated 4/5 — 'Quick and kind, thanks!'")
        transcript = console.get_by_role("list", name="Messages")
        expect(transcript.locator("li.timeline").last).to_contain_text(
            "Rated 4/5 — 'Quick and kind, thanks!'"
        )
        screenshot(console, screenshot_dir, "console-rating")

        # A reload of the widget shows the stored rating, not the form.
        widget_page.reload()
        widget_page.get_by_role("button", name="Open chat").click()
        frame = widget_page.frame_locator("iframe[title=Chat]")
        expect(frame.get_by_text("You rated this conversation 4 out of 5.")).to_be_visible()
        expect(frame.get_by_text("Quick and kind, thanks!")).to_be_visible()
        expect(frame.get_by_role("button", name=re.compile("^Rate \\d out of 5$"))).to_have_count(0)
        expect(frame.get_by_text("How did we do?")).to_have_count(0)
        assert problems == []
        assert watch.seen == []
    setup.close()


def test_the_visitor_panel_lists_past_ratings(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    """A visitor's earlier, rated conversation shows its rating in the panel's history."""
    url = live_server.url
    make_site(settings, "Demo shop", [url], prechat_name="off", prechat_email="off")
    owner = direct_operator(settings, "owner", "Olivia Owner")
    setup = OperatorApi(url, owner)
    with new_page(browser, DESKTOP) as widget_page, new_page(browser, DESKTOP) as console:
        widget_page.goto(url + "/demo")
        widget_page.get_by_role("button", name="Open chat").click()
        frame = widget_page.frame_locator("iframe[title=Chat]")
        box = frame.get_by_role("textbox", name="Message")
        box.fill("First question")
        box.press("Enter")
        expect(frame.locator(".confirmed .msg.me")).to_have_count(1)
        [first] = setup.call("GET", "/api/v1/conversations")["conversations"]
        setup.call("PATCH", f"/api/v1/conversations/{first['id']}", {"status": "resolved"})
        frame.get_by_role("button", name="Rate 2 out of 5").click()
        frame.get_by_role("button", name="Send rating").click()
        expect(frame.get_by_text("Thank you for your feedback!")).to_be_visible()
        # The visitor's second conversation, started over the same visitor session.
        token = (
            widget_page.frame_locator("iframe[title=Chat]")
            .locator("body")
            .evaluate("() => Object.entries(localStorage).find(([k]) => k.endsWith(':token'))?.[1]")
        )
        assert token, "the widget keeps its visitor token"
        started = httpx.post(
            f"{url}/api/v1/widget/conversations",
            json={"body": "Second question", "client_msg_id": "second-1"},
            headers={"Authorization": f"Bearer {json.loads(token)}"},
        )
        assert started.status_code == 201, started.text

        sign_in_with(console, setup, f"/admin/conversations/{started.json()['conversation']['id']}")
        past = console.locator("#visitor-past")
        expect(past).to_contain_text("First question")
        expect(past).to_contain_text("Rated 2/5")
    setup.close()
