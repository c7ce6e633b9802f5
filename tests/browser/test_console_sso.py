"""Single sign-on in Chromium (ADR 0029): the sign-in page's button through the real
provider on loopback (tests/auth/oidc_provider.py approves its test user at once) and
back into the console; a refusal ends on the sign-in page with its message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.auth.oidc_provider import Provider, running_provider, with_sso
from tests.browser.console_helpers import (
    PHONE,
    check_layout,
    direct_operator,
    new_page,
    screenshot,
    wait_ready,
)
from tests.browser.test_console_axe import _axe, _report
from tests.conftest import LiveServer

provider_fixture = pytest.fixture(running_provider, name="provider")


@pytest.fixture
def sso_server(settings: Settings, provider: Provider) -> Iterator[LiveServer]:
    configured = with_sso(settings, provider)
    server = LiveServer(lambda: create_app(configured))
    server.start()
    yield server
    server.stop()


def test_the_sign_in_button_goes_through_the_provider(
    browser: Browser,
    sso_server: LiveServer,
    provider: Provider,
    settings: Settings,
    screenshot_dir: Path,
) -> None:
    agent = direct_operator(settings, "agent", "Sam Single")
    provider.user["email"] = agent.email
    url = sso_server.url
    with new_page(browser) as page:
        page.goto(url + "/admin/account")
        expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/account$"))
        button = page.get_by_role("link", name="Sign in with single sign-on")
        expect(button).to_be_visible()
        check_layout(page)
        screenshot(page, screenshot_dir, "console-sign-in-sso")
        button.click()
        expect(page).to_have_url(url + "/admin/account")
        wait_ready(page)
        me = page.evaluate("fetch('/api/v1/auth/me').then((r) => r.json())")
        assert me["operator"]["email"] == agent.email
        assert provider.authorize_requests[-1]["code_challenge_method"] == "S256"
        # The flow cookie is gone; the session cookie is HttpOnly (no script sees it).
        names = {cookie["name"]: cookie for cookie in page.context.cookies()}
        assert "chatdesk_oidc" not in names
        assert names["chatdesk_session"]["httpOnly"] is True
        assert page.evaluate("document.cookie") == ""


def test_a_refusal_ends_on_the_sign_in_page_with_its_message(
    browser: Browser, sso_server: LiveServer, provider: Provider, screenshot_dir: Path
) -> None:
    provider.user["email"] = "nobody@example.com"
    with new_page(browser, viewport=PHONE, bypass_csp=True) as page:  # axe goes in inline
        page.goto(sso_server.url + "/admin/login")
        page.get_by_role("link", name="Sign in with single sign-on").click()
        expect(page).to_have_url(re.compile(r"/admin/login\?sso=not_allowed$"))
        alert = page.locator("#sso-error")
        expect(alert).to_have_attribute("role", "alert")
        expect(alert).to_have_text(
            "There is no active chatdesk account for you. Ask an admin to add you."
        )
        # The password form is still there, and the page still fits a phone.
        expect(page.get_by_label("Email")).to_be_visible()
        check_layout(page)
        assert _report("sign-in with single sign-on", _axe(page)) == []
        screenshot(page, screenshot_dir, "console-sign-in-sso-refused-phone")
