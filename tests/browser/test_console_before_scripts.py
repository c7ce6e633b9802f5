"""What the console's controls do before the scripts that handle them have run.

A slow network or a blocked script leaves a server-rendered page without its handlers.
A click then must not be lost silently, and a form must never go to the server as a
plain GET form, which would put the password in the address (history, logs, Referer).
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    OperatorApi,
    direct_operator,
    new_page,
    sign_in_with,
    wait_ready,
)
from tests.conftest import LiveServer


def _without(page: Page, script: str) -> None:
    page.route(f"**/console/{script}", lambda route: route.abort())


def _account_without(page: Page, setup: OperatorApi, script: str) -> None:
    """The account page, signed in, with ``script`` refused by the network."""
    sign_in_with(page, setup, "/admin/account")
    _without(page, script)
    page.reload()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def test_sign_in_before_its_script_sends_nothing(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    with new_page(browser) as page:
        sent: list[str] = []
        page.on("request", lambda request: sent.append(request.url))
        _without(page, "login.js")
        page.goto(url + "/admin/login")
        form = page.locator("#login-form")
        assert form.get_attribute("method") == "post"
        button = page.get_by_role("button", name="Sign in", exact=True)
        expect(button).to_be_disabled()
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill(owner.password)
        page.get_by_label("Password").press("Enter")
        button.click(force=True)
        page.wait_for_timeout(300)
        assert page.url == url + "/admin/login"
        assert [u for u in sent if owner.password in u] == []
        assert [u for u in sent if u.startswith(url + "/admin/login?")] == []

        page.unroute("**/console/login.js")
        page.reload()
        expect(button).to_be_enabled()
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill(owner.password)
        button.click()
        wait_ready(page)
        expect(page).to_have_url(url + "/admin")


def test_account_forms_wait_for_their_script(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    setup = OperatorApi(url, direct_operator(settings))
    with new_page(browser) as page:
        _account_without(page, setup, "account.js")
        for name in ("Save name", "Change password", "Save notifications", "Add a passkey"):
            expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
        for form in ("name-form", "password-form", "notify-form", "passkey-add-form"):
            assert page.locator(f"#{form}").get_attribute("method") == "post"

        page.unroute("**/console/account.js")
        page.reload()
        wait_ready(page)
        for name in ("Save name", "Change password", "Save notifications"):
            expect(page.get_by_role("button", name=name, exact=True)).to_be_enabled()
        page.get_by_label("Your name").fill("Olive Owner")
        page.get_by_role("button", name="Save name", exact=True).click()
        expect(page.get_by_text("Name saved.")).to_be_visible()
    setup.close()


def test_sign_out_waits_for_its_handler(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    setup = OperatorApi(url, direct_operator(settings))
    with new_page(browser) as page:
        _account_without(page, setup, "chrome.js")
        expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_disabled()

        page.unroute("**/console/chrome.js")
        page.reload()
        sign_out = page.get_by_role("button", name="Sign out", exact=True)
        expect(sign_out).to_be_enabled()
        sign_out.click()
        expect(page).to_have_url(url + "/admin/login")
        assert page.request.get(url + "/api/v1/auth/me").status == 401
    setup.close()
