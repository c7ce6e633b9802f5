"""Screenshots of the console at laptop and phone widths, with layout checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DESKTOP,
    PHONE,
    OperatorApi,
    Visitor,
    assert_no_sideways_scroll,
    assert_on_screen,
    direct_operator,
    new_page,
    row,
    screenshot,
    sign_in_with,
)
from tests.conftest import LiveServer

PEOPLE = [
    ("Maya Okafor", "maya@example.com", "Do the Trail Runner 2 shoes run true to size?"),
    (
        "Lucas Moreau",
        "lucas@example.org",
        "My card keeps getting declined at checkout, order #4821.",
    ),
    (None, None, "Hello? Is anyone there?"),
    ("Sofia Rossi", "sofia@example.it", "Can I change the delivery address of my order?"),
    ("Kenji Watanabe", "kenji@example.jp", "Do you have a size chart for kids?"),
]


def _fits(page: Page) -> None:
    """Nothing spills sideways: no horizontal scrolling at this width."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"page is {overflow}px wider than the viewport"


UNNAMED_CONTROLS = """
() => [...document.querySelectorAll('button, input, select, textarea, a[href], summary')]
  .filter((el) => el.getClientRects().length > 0)
  .filter((el) => {
    const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
      (el.labels && el.labels.length) || (el.textContent || '').trim();
    return !named;
  })
  .map((el) => el.outerHTML.slice(0, 120))
"""


def _checked(page: Page) -> None:
    """No sideways scrolling at this width, and every visible control has a name."""
    _fits(page)
    assert page.evaluate(UNNAMED_CONTROLS) == []


@pytest.mark.parametrize("width", ["1280", "390"])
def test_console_screenshots(
    browser: Browser,
    live_server: LiveServer,
    settings: Settings,
    screenshot_dir: Path,
    width: str,
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Olivia Owner")
    setup = OperatorApi(url, owner)
    site = setup.create_site("Demo shop")
    teammate = setup.create_operator("agent", "Tom Baker")
    visitors = []
    for name, email, first in PEOPLE:
        profile = {"page_url": "https://shop.example.com/products/trail-runner-2"}
        profile.update({"name": name, "email": email} if name else {})
        profile["timezone"] = "Europe/Rome"
        visitor = Visitor(url, site["site_key"], profile)
        visitor.start(first)
        visitors.append(visitor)
    maya = visitors[0]
    cid = maya.conversation_id
    reply = {"body": "Hi Maya! They run about half a size small.", "client_msg_id": "r1"}
    setup.call("POST", f"/api/v1/conversations/{cid}/messages", reply, 201)
    note = {"body": "Offer free exchange if wrong size.", "client_msg_id": "n1", "private": True}
    setup.call("POST", f"/api/v1/conversations/{cid}/messages", note, 201)
    maya.say("Great, thanks. And is shipping to Canada free?")
    setup.call("PATCH", f"/api/v1/conversations/{cid}", {"labels": ["sizing", "shipping"]})
    lucas = visitors[1].conversation_id
    setup.call("PATCH", f"/api/v1/conversations/{lucas}", {"assignee_id": teammate.id})

    viewport = DESKTOP if width == "1280" else PHONE
    with new_page(browser, viewport) as page:
        sign_in_with(page, setup)
        expect(page.locator("#conversation-list li.row")).to_have_count(5)
        _checked(page)
        screenshot(page, screenshot_dir, f"inbox-{width}")

        row(page, "Maya Okafor").get_by_role("link").click()
        transcript = page.get_by_role("list", name="Messages")
        # li.msg counts messages (two from Maya, the reply, the note); the assignment the
        # reply made and the label change are timeline lines between them, not messages.
        expect(transcript.locator("li.msg")).to_have_count(4)
        expect(transcript.locator("li.timeline")).to_have_text(
            [re.compile("took this conversation"), re.compile("added labels")]
        )
        expect(page.get_by_label("Reply")).to_be_visible()
        if width == "390":
            expect(page.locator("#inbox")).to_be_hidden()
        _checked(page)
        screenshot(page, screenshot_dir, f"conversation-{width}")
        if width == "390":
            page.get_by_role("button", name="Visitor details").click()
            panel = page.get_by_role("complementary", name="Visitor details")
            expect(panel).to_be_visible()
            expect(panel).to_contain_text("maya@example.com")
            screenshot(page, screenshot_dir, f"visitor-{width}")
            page.get_by_role("button", name="Close visitor details").click()
            page.get_by_role("button", name="Back to inbox").click()
            expect(page.locator("#inbox")).to_be_visible()
            expect(page).to_have_url(url + "/admin")

        page.get_by_role("link", name="Settings").click()
        expect(page.get_by_label("Embed snippet")).to_be_visible()
        _checked(page)
        screenshot(page, screenshot_dir, f"settings-{width}")
        screenshot(page, screenshot_dir, f"settings-full-{width}", full_page=True)
    for client in [setup, *visitors]:
        client.close()


NAV_PAGES = {"inbox": "/admin", "reports": "/admin/reports", "account": "/admin/account"}


@pytest.mark.parametrize("width", ["1280", "390"])
@pytest.mark.parametrize("role", ["owner", "agent"])
def test_the_top_bar_keeps_every_link_in_sight(
    browser: Browser,
    live_server: LiveServer,
    settings: Settings,
    screenshot_dir: Path,
    role: str,
    width: str,
) -> None:
    owner = OperatorApi(live_server.url, direct_operator(settings, "owner", "Olivia Owner"))
    user = owner
    if role == "agent":
        user = OperatorApi(live_server.url, owner.create_operator("agent", "Ann Agent"))
    links = ["Inbox", "Reports", "Settings", "Account"] if role == "owner" else []
    links = links or ["Inbox", "Reports", "Account"]
    viewport = DESKTOP if width == "1280" else PHONE
    with new_page(browser, viewport) as page:
        for name, path in NAV_PAGES.items():
            sign_in_with(page, user, path)
            nav = page.get_by_role("navigation", name="Main")
            expect(nav.get_by_role("link")).to_have_text(links)
            for link in links:
                assert_on_screen(nav.get_by_role("link", name=link, exact=True), f"{link} ({name})")
            menu = page.locator("details.menu > summary")
            expect(menu).to_have_accessible_name(re.compile("account and preferences"))
            assert_on_screen(menu, f"the account menu ({name})")
            assert_on_screen(
                page.get_by_role("button", name="Sign out", exact=True), f"Sign out ({name})"
            )
            assert_no_sideways_scroll(page)
            bar = page.locator("header.topbar").bounding_box()
            assert bar is not None
            if width == "1280":  # one row, as it always was
                assert bar["height"] == 52
            else:  # the links on a row of their own, all of the bar in sight
                assert bar["x"] == 0 and bar["width"] == PHONE["width"]
            screenshot(page, screenshot_dir, f"topbar-{role}-{name}-{width}")
        # The menu opens inside the window, and the links lead where they say.
        page.locator("details.menu > summary").click()
        assert_on_screen(page.get_by_label("Sound on new messages"), "a menu preference")
        page.keyboard.press("Escape")
        page.locator("main").click(position={"x": 5, "y": 5})
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
        expect(page).to_have_url(live_server.url + "/admin")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
        expect(page).to_have_url(live_server.url + "/admin/account")
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    if user is not owner:
        user.close()
    owner.close()
