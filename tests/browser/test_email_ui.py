"""Email in the browser: the widget's transcript button and what it promises when away,
and the Account page's notification preferences (real Chromium, live server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    OperatorApi,
    direct_operator,
    new_page,
    sign_in_with,
    wait_ready,
)
from tests.browser.widget_helpers import make_site
from tests.conftest import LiveServer
from tests.email.conftest import email_settings

CLOSED = {"timezone": "UTC", "days": {}}  # never open: the widget is "away"


@pytest.fixture
def email_server(settings: Settings) -> Iterator[LiveServer]:
    """A live server that sends email (to a port nothing listens on: sending is the
    outbox's, later; what is tested here is what the widget and API promise)."""
    server = LiveServer(lambda: None)
    configured = email_settings(settings, "smtp://127.0.0.1:9", public_url=server.url)
    server.make_app = lambda: create_app(configured)
    server.start()
    yield server
    server.stop()


def _widget(page: Page, server: LiveServer) -> FrameLocator:
    page.goto(server.url + "/demo")
    page.get_by_role("button", name="Open chat").click()
    return page.frame_locator("iframe[title=Chat]")


def _say(frame: FrameLocator, text: str) -> None:
    box = frame.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(frame.locator(".confirmed .msg.me .bubble").last).to_have_text(text)


def test_the_visitor_emails_themselves_the_transcript(
    browser: Browser, settings: Settings, email_server: LiveServer
) -> None:
    make_site(settings, "Demo shop", [email_server.url], prechat_name="off", prechat_email="off")
    owner = OperatorApi(email_server.url, direct_operator(settings))
    with new_page(browser) as page:
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        frame = _widget(page, email_server)
        _say(frame, "Do you ship to Norway?")
        button = frame.get_by_role("button", name="Email me the transcript")
        expect(button).to_be_visible()
        button.click()
        # No address yet: the widget asks for one, then saves it and sends.
        frame.get_by_label("Your email").fill("not-an-address")
        frame.get_by_role("button", name="Send transcript").click()
        expect(frame.get_by_role("status").filter(has_text="valid email")).to_be_visible()
        frame.get_by_label("Your email").fill("vera@example.com")
        frame.get_by_role("button", name="Send transcript").click()
        expect(frame.get_by_role("status").filter(has_text="vera@example.com")).to_have_text(
            "We'll email the transcript to vera@example.com."
        )
        # Again, with the address known: no question.
        button.click()
        expect(frame.get_by_label("Your email")).to_be_hidden()
        expect(frame.get_by_role("status").filter(has_text="We'll email")).to_be_visible()
        assert problems == []
    (conversation,) = owner.call("GET", "/api/v1/conversations")["conversations"]
    full = owner.call("GET", f"/api/v1/conversations/{conversation['id']}")
    assert full["visitor"]["email"] == "vera@example.com"
    owner.close()


def test_away_the_widget_promises_email_only_when_email_is_on(
    browser: Browser, settings: Settings, email_server: LiveServer, live_server: LiveServer
) -> None:
    # One database behind both servers: one demo site allowing both origins.
    make_site(settings, "Demo shop", [email_server.url, live_server.url], business_hours=CLOSED)
    with new_page(browser) as page:
        frame = _widget(page, email_server)
        expect(frame.locator("#status")).to_have_text("Away right now · we'll reply by email")
        frame.get_by_label("Message").fill("Call me back")
        frame.get_by_role("button", name="Send message").click()
        expect(frame.get_by_role("alert").filter(has_text="email")).to_be_visible()  # required
    with new_page(browser) as page:
        frame = _widget(page, live_server)
        status = frame.locator("#status")
        expect(status).to_have_text("Away right now · leave a message")
        expect(frame.get_by_text("(optional)").last).to_be_visible()
        frame.get_by_label("Message").fill("Call me back")
        frame.get_by_role("button", name="Send message").click()
        expect(frame.get_by_text("Thanks! We'll reply here as soon as we're back.")).to_be_visible()
        expect(frame.get_by_role("button", name="Email me the transcript")).to_have_count(0)
        assert "email" not in (status.text_content() or "")


def test_account_notification_preferences(
    browser: Browser, settings: Settings, email_server: LiveServer
) -> None:
    agent = direct_operator(settings, "agent", "Ada Agent")
    setup = OperatorApi(email_server.url, agent)
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/account")
        wait_ready(page)
        section = page.get_by_role("region", name="Email notifications")
        unanswered = section.get_by_label("Email me about conversations nobody has answered")
        minutes = section.get_by_label("After how many minutes")
        mentions = section.get_by_label("Email me when a teammate @mentions me")
        expect(unanswered).not_to_be_checked()
        expect(minutes).to_be_disabled()
        expect(mentions).to_be_checked()
        unanswered.check()
        minutes.fill("0")
        section.get_by_role("button", name="Save notifications").click()
        expect(section.get_by_role("alert")).to_have_text(
            "Enter a number of minutes from 1 to 1440."
        )
        minutes.fill("15")
        mentions.uncheck()
        section.get_by_role("button", name="Save notifications").click()
        expect(section.get_by_role("status")).to_have_text("Notifications saved.")
        page.reload()
        wait_ready(page)
        expect(unanswered).to_be_checked()
        expect(minutes).to_have_value("15")
        expect(mentions).not_to_be_checked()
    me = setup.call("GET", "/api/v1/auth/me")["operator"]
    assert me["notifications"] == {"unanswered_minutes": 15, "mentions": False}
    setup.close()


def test_an_admin_makes_a_bot_token_for_one_site(
    browser: Browser, settings: Settings, live_server: LiveServer
) -> None:
    import httpx

    owner = OperatorApi(live_server.url, direct_operator(settings))
    owner.create_site("Other shop")
    shop = owner.create_site("Bot shop")
    with new_page(browser) as page:
        sign_in_with(page, owner, "/admin/settings/tokens")
        wait_ready(page)
        form = page.get_by_role("form", name="Create an API token")
        site = form.get_by_label("Bot's site")
        expect(site).to_be_hidden()
        form.get_by_label("Token name").fill("Shop helper")
        form.get_by_label("Token role").select_option("bot")
        expect(site).to_be_visible()
        site.select_option(label="Bot shop")
        form.get_by_role("button", name="Create token").click()
        secret = page.get_by_label("New API token")
        expect(secret).to_be_visible()
        token = secret.input_value()
        expect(page.get_by_role("cell", name="bot · Bot shop")).to_be_visible()
    tokens = owner.call("GET", "/api/v1/api-tokens")["api_tokens"]
    (made,) = [t for t in tokens if t["name"] == "Shop helper"]
    assert made["role"] == "bot" and made["site_id"] == shop["id"]
    with httpx.Client(base_url=live_server.url) as http:
        sites = http.get("/api/v1/inbox/sites", headers={"Authorization": f"Bearer {token}"})
        assert [s["name"] for s in sites.json()["sites"]] == ["Bot shop"]
    owner.close()
