"""The account page (own password) and the owner's audit log, in the browser."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    CHROME_UA,
    DESKTOP,
    PHONE,
    DialogWatch,
    OperatorApi,
    assert_no_sideways_scroll,
    assert_on_screen,
    check_layout,
    direct_operator,
    new_page,
    screenshot,
    sign_in,
    sign_in_with,
    wait_ready,
)
from tests.conftest import LiveServer

CHANGED = "Password changed. Your other sessions were signed out."
HOSTILE = "<img src=x onerror=alert(1)>{{7*7}}"


def _change_password(page: Page, current: str, new: str, confirm: str | None = None) -> None:
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("Confirm new password").fill(new if confirm is None else confirm)
    page.get_by_role("button", name="Change password").click()


def _audit_rows(page: Page) -> Locator:
    return page.get_by_role("table", name="Audit log entries").locator("tbody tr")


def test_change_password_signs_out_other_sessions(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Olivia Owner")
    elsewhere = OperatorApi(url, owner)  # another session of the same operator
    new_password = "correct horse battery staple"
    with new_page(browser) as page, new_page(browser) as other:
        watch = DialogWatch(page)
        sign_in(page, url, owner, "/admin/account")
        expect(page).to_have_url(url + "/admin/account")
        sign_in_with(other, elsewhere, "/admin/settings/canned")

        account = page.get_by_role("link", name="Account")
        expect(account).to_have_attribute("aria-current", "page")
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        expect(page.get_by_label("Your name")).to_have_value("Olivia Owner")
        expect(page.locator("#account-email")).to_have_text(owner.email)
        expect(page.locator("#account-role")).to_contain_text("Owner")
        # Not the first-start owner: no nudge.
        expect(page.get_by_role("heading", name="Replace the generated password")).to_have_count(0)

        _change_password(page, owner.password, new_password)
        expect(page.get_by_role("status")).to_have_text(CHANGED)
        expect(page.locator("#password-error")).to_be_empty()
        for label in ("Current password", "Confirm new password"):
            expect(page.get_by_label(label)).to_have_value("")
        expect(page.get_by_label("New password", exact=True)).to_have_value("")
        assert elsewhere.http.get("/api/v1/auth/me").status_code == 401

        # The other browser is sent to sign in on its next action; nothing is saved.
        other.get_by_label("Shortcut").fill("late")
        other.get_by_label("Response text").fill("Written after the password changed.")
        other.get_by_role("button", name="Add canned response").click()
        expect(other).to_have_url(re.compile(r"/admin/login\?next=%2Fadmin%2Fsettings%2Fcanned$"))
        expect(other.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
        canned = page.request.get(url + "/api/v1/canned-responses").json()
        assert canned["canned_responses"] == []

        # This browser stays signed in.
        page.reload()
        wait_ready(page)
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()

        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(page).to_have_url(url + "/admin/login")
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill(owner.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
        page.get_by_label("Password").fill(new_password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        wait_ready(page)
        expect(page).to_have_url(url + "/admin")
        assert watch.seen == []
        assert watch.errors == []
    elsewhere.close()


def test_password_form_explains_what_is_wrong(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    agent = direct_operator(settings, "agent", "Alex Agent")
    setup = OperatorApi(url, agent)
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/account")
        expect(page.locator("#account-role")).to_contain_text("Agent")
        alert = page.get_by_role("alert")
        current = page.get_by_label("Current password")
        new = page.get_by_label("New password", exact=True)

        _change_password(page, agent.password, "short")
        expect(alert).to_have_text(
            "The new password must be at least 10 characters long (it has 5)."
        )
        expect(new).to_have_attribute("aria-invalid", "true")
        expect(new).to_be_focused()

        _change_password(page, agent.password, "long-enough-1", "long-enough-2")
        expect(alert).to_have_text("The two new passwords do not match.")
        expect(page.get_by_label("Confirm new password")).to_have_attribute("aria-invalid", "true")

        _change_password(page, "not-my-password", "long-enough-1")
        expect(alert).to_have_text("The current password is wrong. Nothing was changed.")
        expect(current).to_have_value("")
        expect(current).to_be_focused()
        expect(current).to_have_attribute("aria-invalid", "true")
        expect(new).not_to_have_attribute("aria-invalid", "true")
        expect(page.locator("#password-status")).to_be_empty()

        # What the server says when a short password gets past the page (an old tab,
        # a script): the 422 is put in words too.
        page.route(
            "**/api/v1/auth/password",
            lambda route: route.continue_(
                post_data=json.dumps({"current_password": agent.password, "new_password": "x"})
            ),
        )
        _change_password(page, agent.password, "long-enough-1")
        expect(alert).to_have_text(
            "The new password must be at least 10 characters long. Nothing was changed."
        )
    # Nothing was changed: the old password still signs in.
    again = OperatorApi(url, agent)
    again.close()
    setup.close()


def test_owner_reads_and_filters_the_audit_log(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Olivia Owner")
    setup = OperatorApi(url, owner)
    site = setup.create_site(f"Shop {HOSTILE}")
    setup.call("PATCH", f"/api/v1/sites/{site['id']}", {"greeting": "Hello!"})
    admin = setup.create_operator("admin", "Ada Admin")
    admin_api = OperatorApi(url, admin)
    admin_api.call("POST", "/api/v1/canned-responses", {"shortcut": "hi", "body": "Hi!"}, 201)
    failed = httpx.post(
        url + "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "nope"}
    )
    assert failed.status_code == 401
    new_password = "a much better password"
    body = {"current_password": owner.password, "new_password": new_password}
    setup.call("POST", "/api/v1/auth/password", body, 204)
    for index in range(55):  # more than one page of 50
        setup.call("POST", "/api/v1/canned-responses", {"shortcut": f"c{index}", "body": "x"}, 201)
    everything = setup.call("GET", "/api/v1/audit-log?limit=200")["entries"]
    assert len(everything) > 50

    zone = "Pacific/Auckland"
    with new_page(browser, timezone_id=zone, locale="en-GB") as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, "/admin/settings/audit")
        expect(page.get_by_role("link", name="Audit log")).to_have_attribute("aria-current", "page")
        rows = _audit_rows(page)
        expect(rows).to_have_count(50)
        ids = [int(i) for i in rows.evaluate_all("(rs) => rs.map((r) => r.dataset.id)")]
        assert ids == [e["id"] for e in everything[:50]]
        # Local time: the newest entry's clock time as seen in Auckland.
        newest = datetime.fromisoformat(everything[0]["created_at"].replace("Z", "+00:00"))
        expect(rows.first.locator("time")).to_contain_text(
            newest.astimezone(ZoneInfo(zone)).strftime("%H:%M:%S")
        )
        expect(rows.first.locator("time")).to_have_attribute(
            "datetime", everything[0]["created_at"]
        )

        page.get_by_role("button", name="Load older entries").click()
        expect(rows).to_have_count(len(everything))
        ids = [int(i) for i in rows.evaluate_all("(rs) => rs.map((r) => r.dataset.id)")]
        assert ids == [e["id"] for e in everything]
        expect(page.get_by_role("button", name="Load older entries")).to_be_hidden()
        expect(page.get_by_text("No older entries.")).to_be_visible()

        change = rows.filter(has_text="operator.password_change")
        expect(change).to_have_count(1)
        expect(change).to_contain_text("Olivia Owner (you)")
        expect(change).to_contain_text("Changed own password")
        update = rows.filter(has_text="site.update")
        expect(update.locator(".audit-details")).to_have_text('{"fields":["greeting"]}')
        created = rows.filter(has_text="site.create")
        expect(created.locator(".audit-details")).to_have_text(
            json.dumps({"name": f"Shop {HOSTILE}"}, separators=(",", ":"))
        )
        expect(created).to_contain_text(f"site Shop {HOSTILE}")
        expect(rows.filter(has_text="auth.login_failed")).to_contain_text("Not signed in")
        expect(rows.filter(has_text="operator.create").first).to_contain_text("operator Ada Admin")

        page.get_by_label("Action", exact=True).select_option("site.update")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-action", "site.update")
        expect(page).to_have_url(url + "/admin/settings/audit?action=site.update")

        page.get_by_label("Action", exact=True).select_option("")
        page.get_by_label("Operator", exact=True).select_option(label="Ada Admin")
        expect(rows).to_have_count(2)
        actions = rows.evaluate_all("(rs) => rs.map((r) => r.dataset.action)")
        assert actions == ["canned_response.create", "auth.login"]
        for index in range(2):
            expect(rows.nth(index)).to_contain_text("Ada Admin")

        page.get_by_label("Action", exact=True).select_option("auth.login")
        expect(rows).to_have_count(1)
        # The filters live in the address: a reload shows the same entries.
        page.reload()
        wait_ready(page)
        expect(page.get_by_label("Action", exact=True)).to_have_value("auth.login")
        expect(page.get_by_label("Operator", exact=True)).to_have_value(admin.id)
        expect(rows).to_have_count(1)

        page.get_by_label("Action", exact=True).select_option("api_token.revoke")
        expect(page.get_by_text("No entries match these filters.")).to_be_visible()
        expect(page.get_by_role("table", name="Audit log entries")).to_be_hidden()

        assert page.locator("img").count() == 0
        assert watch.seen == []
        assert watch.errors == []
    admin_api.close()
    setup.close()


def test_only_owners_get_the_audit_log(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    admin = setup.create_operator("admin", "Ada Admin")
    agent = setup.create_operator("agent", "Alex Agent", site_ids=[site["id"]])
    with new_page(browser) as page:
        for path in ("/admin/account", "/admin/settings/audit"):
            page.goto(url + path)
            expect(page).to_have_url(f"{url}/admin/login?next={path}")

        # Sent to sign in from the audit log, an admin lands on the settings they may use.
        sign_in(page, url, admin, "/admin/settings/audit")
        expect(page).to_have_url(url + "/admin/settings")
        nav = page.get_by_role("navigation", name="Settings")
        expect(nav.get_by_role("link", name="Sites")).to_be_visible()
        expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)
        response = page.goto(url + "/admin/settings/audit")
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", name="The audit log is for owners")).to_be_visible()
        assert page.request.get(url + "/api/v1/audit-log").status == 403
        page.get_by_role("link", name="Account").click()
        expect(page.locator("#account-role")).to_contain_text("Admin")
        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(page).to_have_url(url + "/admin/login")

        sign_in(page, url, agent)
        response = page.goto(url + "/admin/settings/audit")
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", name="Settings are for admins")).to_be_visible()
        assert page.request.get(url + "/api/v1/audit-log").status == 403

    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings")
        nav = page.get_by_role("navigation", name="Settings")
        nav.get_by_role("link", name="Audit log").click()
        expect(page).to_have_url(url + "/admin/settings/audit")
        wait_ready(page)
        expect(page.get_by_role("heading", name="Audit log", level=2)).to_be_visible()
    setup.close()


@pytest.mark.parametrize("width", ["1280", "390"])
def test_account_and_audit_screenshots(
    browser: Browser,
    live_server: LiveServer,
    settings: Settings,
    screenshot_dir: Path,
    width: str,
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Olivia Owner", email="owner@chatdesk.local")
    setup = OperatorApi(url, owner)
    site = setup.create_site("Demo shop")
    setup.call(
        "PATCH",
        f"/api/v1/sites/{site['id']}",
        {"greeting": "Hi! Ask us anything.", "allowed_origins": ["https://shop.example.com"]},
    )
    tom = setup.create_operator("agent", "Tom Baker")
    OperatorApi(url, tom).close()
    httpx.post(url + "/api/v1/auth/login", json={"email": "tom@example.com", "password": "guess"})
    setup.call("POST", "/api/v1/api-tokens", {"name": "CRM sync", "role": "agent"}, 201)
    setup.call("POST", "/api/v1/canned-responses", {"shortcut": "hours", "body": "9-17"}, 201)

    viewport = DESKTOP if width == "1280" else PHONE
    with new_page(browser, viewport) as page:
        sign_in_with(page, setup, "/admin/account")
        hint = page.get_by_role("note")
        expect(hint).to_contain_text("Replace the generated password")
        expect(hint).to_contain_text("owner@chatdesk.local")
        screenshot(page, screenshot_dir, f"account-{width}", full_page=True)
        check_layout(page)
        _change_password(page, "not-the-password", "a new long password")
        expect(page.get_by_role("alert")).to_contain_text("current password is wrong")
        screenshot(page, screenshot_dir, f"account-error-{width}", full_page=True)
        check_layout(page)
        _change_password(page, owner.password, "a new long password")
        expect(page.get_by_role("status")).to_have_text(CHANGED)
        expect(hint).to_be_hidden()
        screenshot(page, screenshot_dir, f"account-changed-{width}", full_page=True)

        page.get_by_role("link", name="Settings").click()
        page.get_by_role("navigation", name="Settings").get_by_role(
            "link", name="Audit log"
        ).click()
        wait_ready(page)
        expect(_audit_rows(page).filter(has_text="operator.password_change")).to_have_count(1)
        screenshot(page, screenshot_dir, f"audit-{width}")
        screenshot(page, screenshot_dir, f"audit-full-{width}", full_page=True)
        check_layout(page)
    setup.close()


SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize("width", ["1280", "390"])
def test_signed_in_devices_fit_the_screen_with_their_sign_out_buttons(
    browser: Browser,
    live_server: LiveServer,
    settings: Settings,
    screenshot_dir: Path,
    width: str,
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", "Olivia Owner")
    setup = OperatorApi(url, owner)  # the browser below signs in with this session
    elsewhere = []
    for agent in (CHROME_UA, SAFARI_IOS):
        client = httpx.Client(base_url=url, headers={"User-Agent": agent}, timeout=10)
        answer = client.post(
            "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
        )
        assert answer.status_code == 200, answer.text
        elsewhere.append(client)

    with new_page(browser, DESKTOP if width == "1280" else PHONE) as page:
        sign_in_with(page, setup, "/admin/account")
        devices = page.get_by_role("region", name="Signed-in devices")
        rows = devices.locator("tbody tr")
        expect(rows).to_have_count(3)
        assert_no_sideways_scroll(page)
        for name in ("Sign out Chrome on macOS", "Sign out Safari on iOS"):
            assert_on_screen(devices.get_by_role("button", name=name), name)
        this_one = devices.get_by_role("button", name=re.compile(r"\(this device\)$"))
        assert_on_screen(this_one, "Sign out of this device")
        assert_on_screen(
            devices.get_by_role("button", name="Sign out everywhere else"),
            "Sign out everywhere else",
        )
        # Still a table to assistive technology, stacked or not: a header per column, and
        # on a phone each figure carries its column's name in sight.
        table = devices.get_by_role("table", name="Signed-in devices")
        for column in ("Browser", "IP address", "Signed in", "Last seen"):
            expect(table.get_by_role("columnheader", name=column)).to_have_count(1)
        chrome = rows.filter(has_text="Chrome on macOS")
        expect(chrome.get_by_role("cell", name="127.0.0.1")).to_have_count(1)
        if width == "390":
            label = chrome.locator("td", has_text="127.0.0.1")
            assert label.evaluate("(td) => getComputedStyle(td, '::before').content") == (
                '"IP address"'
            )
        screenshot(page, screenshot_dir, f"account-devices-{width}", full_page=True)

        # The button works where it is.
        devices.get_by_role("button", name="Sign out Safari on iOS").click()
        expect(page.locator("#sessions-status")).to_have_text("Safari on iOS was signed out.")
        expect(rows).to_have_count(2)
        assert_no_sideways_scroll(page)
    for client in elsewhere:
        client.close()
    setup.close()
