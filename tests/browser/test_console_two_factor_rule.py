"""Owners requiring two-factor sign-in for everyone, in Chromium (ADR 0030): the owner
turns it on under Account (only with their own on); an agent without it is led to the
set-up, sees nothing else of the console, and gets in once it is on. And the
Sessions card: this device, and signing another one out."""

from __future__ import annotations

import re

import httpx
import pyotp
from playwright.sync_api import Browser, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import direct_operator, new_page, sign_in, wait_ready
from tests.conftest import LiveServer


def _turn_on_totp(page: Page) -> None:
    card = page.get_by_role("region", name="Two-factor authentication")
    card.get_by_role("button", name="Set up two-factor authentication").click()
    secret_text = page.locator("#totp-secret")
    expect(secret_text).to_have_text(re.compile(r"^[A-Z2-7 ]{39}$"))
    secret = secret_text.inner_text().replace(" ", "")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("button", name="I saved them").click()


def test_the_rule_leads_an_agent_to_set_up_first(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Olga Owner")
    agent = direct_operator(settings, "agent", "Andy Agent")
    # The agent's other device, signed in before the rule.
    other = httpx.Client(base_url=url)
    assert (
        other.post(
            "/api/v1/auth/login", json={"email": agent.email, "password": agent.password}
        ).status_code
        == 200
    )
    with new_page(browser) as page:
        sign_in(page, url, owner, "/admin/account")
        rule = page.get_by_label("Require two-factor authentication for every operator")
        expect(rule).not_to_be_checked()
        rule.check()
        expect(page.locator("#policy-error")).to_contain_text(
            "Turn on your own two-factor authentication first"
        )
        expect(rule).not_to_be_checked()
        _turn_on_totp(page)
        rule.check()
        expect(page.locator("#policy-status")).to_have_text(
            "Two-factor authentication is now required for every operator."
        )
        sessions = page.get_by_role("region", name="Signed-in devices")
        expect(sessions.locator("tbody tr")).to_have_count(1)
        expect(sessions).to_contain_text("This device")

    with new_page(browser) as page:
        sign_in(page, url, agent, "/admin")
        expect(page).to_have_url(url + "/admin/account")
        expect(page.get_by_role("note")).to_contain_text(
            "requires two-factor authentication for everyone"
        )
        # Nothing else of the console: no profile, password, devices or inbox.
        expect(page.get_by_role("region", name="Signed-in devices")).to_have_count(0)
        expect(page.get_by_label("Your name")).to_have_count(0)
        page.goto(url + "/admin/settings")
        expect(page).to_have_url(url + "/admin/account")
        wait_ready(page)
        _turn_on_totp(page)
        expect(page).to_have_url(url + "/admin")
        wait_ready(page)
        # Now the whole account page, with both devices; sign the other one out.
        page.goto(url + "/admin/account")
        wait_ready(page)
        sessions = page.get_by_role("region", name="Signed-in devices")
        expect(sessions.locator("tbody tr")).to_have_count(2)
        expect(
            sessions.get_by_role("button", name=re.compile(r"^Sign out .*this device"))
        ).to_have_count(1)
        assert other.get("/api/v1/auth/me").status_code == 200
        sessions.get_by_role("button", name="Sign out everywhere else").click()
        expect(page.locator("#sessions-status")).to_have_text("Every other device was signed out.")
        expect(sessions.locator("tbody tr")).to_have_count(1)
        assert other.get("/api/v1/auth/me").status_code == 401
    other.close()
