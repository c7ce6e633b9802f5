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


def test_an_admin_signs_a_colleague_out_from_settings(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    admin = direct_operator(settings, "admin", "Adele Admin")
    agent = direct_operator(settings, "agent", "Bruno Agent")
    direct_operator(settings, "owner", "Oscar Owner")  # listed, without "Sessions"
    devices = []
    for user_agent in (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "curl/8.5",
    ):
        device = httpx.Client(base_url=url, headers={"User-Agent": user_agent})
        body = {"email": agent.email, "password": agent.password}
        assert device.post("/api/v1/auth/login", json=body).status_code == 200
        devices.append(device)
    with new_page(browser) as page:
        sign_in(page, url, admin, "/admin/settings/operators")
        # An owner's sessions are the owners' business only.
        expect(page.get_by_role("button", name="Sessions of Oscar Owner")).to_have_count(0)
        page.get_by_role("button", name="Sessions of Bruno Agent").click()
        listed = page.get_by_role("list", name="Signed-in devices of Bruno Agent")
        expect(listed.get_by_role("listitem")).to_have_count(2)
        expect(listed).to_contain_text("Firefox on Linux")
        page.get_by_role("button", name="Sign out Bruno Agent's curl").click()
        expect(listed.get_by_role("listitem")).to_have_count(1)
        assert devices[1].get("/api/v1/auth/me").status_code == 401
        assert devices[0].get("/api/v1/auth/me").status_code == 200
        page.get_by_role("button", name="Sign out Bruno Agent everywhere").click()
        expect(page.get_by_text("Bruno Agent is not signed in anywhere.")).to_be_visible()
        assert devices[0].get("/api/v1/auth/me").status_code == 401
    for device in devices:
        device.close()
