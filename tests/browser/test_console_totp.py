"""Two-factor authentication in the console (Chromium): set up on Account, read the key
from the page, compute codes with pyotp, turn it on, sign in with the second step (a
code, then a recovery code), turn it off with the password."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import insert

from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_totp
from chatdesk.security.totp import TotpSecrets, new_secret
from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DialogWatch,
    OperatorApi,
    check_layout,
    direct_operator,
    new_page,
    screenshot,
    sign_in,
    sign_in_with,
    wait_ready,
)
from tests.browser.widget_helpers import database
from tests.conftest import LiveServer
from tests.factories import Operator


def _sign_out(page: Page, url: str) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(url + "/admin/login")


def _password_step(page: Page, owner: Operator) -> None:
    page.get_by_label("Email").fill(owner.email)
    page.get_by_label("Password").fill(owner.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_label("Authentication code")).to_be_visible()
    expect(page.get_by_label("Authentication code")).to_be_focused()
    expect(page.get_by_label("Password")).to_be_hidden()


def test_set_up_sign_in_with_the_second_step_and_turn_off(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Tess Two")
    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in(page, url, owner, "/admin/account")
        card = page.get_by_role("region", name="Two-factor authentication")
        expect(card).to_contain_text("Two-factor authentication is off.")
        card.get_by_role("button", name="Set up two-factor authentication").click()

        # The key and the URI as text, and the QR code beside them.
        secret_text = page.locator("#totp-secret")
        expect(secret_text).to_have_text(re.compile(r"^[A-Z2-7 ]{39}$"))  # 32, by fours
        secret = secret_text.inner_text().replace(" ", "")
        uri = page.locator("#totp-uri").inner_text()
        query = parse_qs(urlsplit(uri).query)
        assert query["secret"] == [secret] and query["issuer"] == ["chatdesk"]
        qr = card.get_by_role("img", name="QR code of the setup URI, for your authenticator app")
        expect(qr).to_be_visible()
        assert qr.locator("path").get_attribute("d")
        check_layout(page)
        screenshot(page, screenshot_dir, "console-totp-setup", full_page=True)

        totp = pyotp.TOTP(secret)
        code = page.get_by_label("Authentication code")
        code.fill(totp.at(time.time() + 300))  # ten steps ahead: not the code now
        page.get_by_role("button", name="Turn on").click()
        expect(page.locator("#totp-error")).to_have_text(
            "That is not the code your app shows now. Check the app and try again."
        )
        code.fill(totp.now())
        page.get_by_role("button", name="Turn on").click()
        codes = page.get_by_role("list", name="Your recovery codes").get_by_role("listitem")
        expect(codes).to_have_count(10)
        recovery = codes.all_inner_texts()
        page.get_by_role("button", name="I saved them").click()
        expect(codes).to_have_count(0)
        expect(card).to_contain_text("Two-factor authentication is on")
        expect(page.locator("#totp-secret")).to_be_empty()  # the key is gone from the page

        # Signing in now takes a second step; a wrong code is refused with words.
        _sign_out(page, url)
        _password_step(page, owner)
        page.get_by_label("Authentication code").fill(totp.at(time.time() + 300))
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("alert")).to_contain_text("That code is not right")
        # The next step's code (the current one was spent turning it on).
        page.get_by_label("Authentication code").fill(totp.at(time.time() + 30))
        page.get_by_role("button", name="Verify").click()
        wait_ready(page)
        expect(page).to_have_url(url + "/admin")

        # A recovery code works in the same field, once.
        _sign_out(page, url)
        _password_step(page, owner)
        page.get_by_label("Authentication code").fill(recovery[0])
        page.get_by_role("button", name="Verify").click()
        wait_ready(page)
        expect(page).to_have_url(url + "/admin")

        # Turning it off needs the password.
        page.goto(url + "/admin/account")
        wait_ready(page)
        expect(card).to_contain_text("Two-factor authentication is on")
        card.get_by_label("Your password").fill("not my password at all")
        card.get_by_role("button", name="Turn off two-factor authentication").click()
        expect(page.locator("#totp-disable-error")).to_have_text(
            "The password is wrong. Nothing was changed."
        )
        card.get_by_label("Your password").fill(owner.password)
        card.get_by_role("button", name="Turn off two-factor authentication").click()
        expect(card).to_contain_text("Two-factor authentication is off.")

        # The password alone signs in again.
        _sign_out(page, url)
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill(owner.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        wait_ready(page)
        expect(page).to_have_url(url + "/admin")
        assert watch.seen == []


def test_the_second_step_can_go_back_to_the_first(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Back Again")
    with new_page(browser) as page:
        sign_in(page, url, owner, "/admin/account")
        page.get_by_role("button", name="Set up two-factor authentication").click()
        expect(page.locator("#totp-secret")).to_have_text(re.compile(r"^[A-Z2-7 ]{39}$"))
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on").click()
        page.get_by_role("button", name="I saved them").click()
        _sign_out(page, url)
        _password_step(page, owner)
        page.get_by_role("button", name="Sign in as someone else").click()
        expect(page.get_by_label("Password")).to_be_visible()
        expect(page.get_by_label("Password")).to_have_value("")
        expect(page.get_by_label("Authentication code")).to_be_hidden()
        # A wrong password from the first step keeps its own answer.
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")


def _totp_on(unit: Unit, operator_id: str, sealed: str) -> None:
    unit.conn.execute(
        insert(operator_totp).values(
            operator_id=operator_id, secret=sealed, enabled_at=unit.now, updated_at=unit.now
        )
    )


def test_an_owner_resets_an_agents_second_factor_from_the_team_list(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    owner = OperatorApi(live_server.url, direct_operator(settings))
    agent = owner.create_operator("agent", "Phil Lostphone")
    sealed = TotpSecrets(settings.secret_key.get_secret_value()).seal(agent.id, new_secret())
    with database(settings) as db:
        db.write_sync(_totp_on, agent.id, sealed)
    with httpx.Client(base_url=live_server.url) as http:
        body = {"email": agent.email, "password": agent.password}
        refused = http.post("/api/v1/auth/login", json=body)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "totp_required"
        with new_page(browser) as page:
            sign_in_with(page, owner, "/admin/settings/operators")
            reset = page.get_by_role("button", name="Reset two-factor sign-in of Phil Lostphone")
            reset.click()
            page.get_by_role("button", name=re.compile("Click again to reset two-factor")).click()
            expect(page.get_by_role("status")).to_contain_text("two-factor sign-in is off")
        assert http.post("/api/v1/auth/login", json=body).status_code == 200
    owner.close()
