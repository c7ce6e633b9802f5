"""Console security: hostile visitor strings stay text, sign-in, sessions, roles, headers."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from chatdesk.web.console_pages import CONSOLE_CSP
from tests.browser.console_helpers import (
    DialogWatch,
    OperatorApi,
    Visitor,
    direct_operator,
    new_page,
    row,
    sign_in,
    sign_in_with,
    stored_visitor,
    wait_ready,
)
from tests.conftest import LiveServer
from tests.factories import bearer

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
TEMPLATE = "{{7*7}}"
HOSTILE = f"{SCRIPT}{IMG}{TEMPLATE}"
CONSOLE_PATHS = [
    "/admin",
    "/admin/",
    "/admin/conversations/01abc",
    "/admin/settings",
    "/admin/settings/sites",
    "/admin/settings/operators",
    "/admin/settings/canned",
    "/admin/settings/tokens",
    "/admin/no/such/page",
]


def test_visitor_strings_render_as_text(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings, "owner", f"Owner {TEMPLATE}{IMG}")
    setup = OperatorApi(url, owner)
    site = setup.create_site(f"Site {SCRIPT}")
    # The API now refuses such a page URL and time zone; profiles stored before it did
    # must still show as text.
    hostile = stored_visitor(
        settings,
        url,
        site["site_key"],
        {
            "name": HOSTILE,
            "email": f"{SCRIPT}@example.com",
            "page_url": f"javascript:alert(1)//{IMG}{TEMPLATE}",
            "timezone": f"{TEMPLATE}<b>",
        },
        user_agent=f"{SCRIPT} {IMG} {TEMPLATE}",
    )
    hostile.start(f"{SCRIPT}\n{IMG}\n{TEMPLATE}")
    linker = stored_visitor(
        settings, url, site["site_key"], {"name": "Link Tester", "page_url": IMG}
    )
    linker.start(IMG)
    refused = Visitor(url, site["site_key"], {"name": "Fresh", "page_url": "https://ok.example"})
    for field, value in (("page_url", f"javascript:alert(1)//{IMG}"), ("timezone", TEMPLATE)):
        patch = refused.http.patch(
            "/api/v1/widget/visitor", json={field: value}, headers=bearer(refused.token)
        )
        assert patch.status_code == 422, patch.text

    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup)
        hostile_row = row(page, "{{7*7}}")
        expect(hostile_row.locator(".row-name")).to_have_text(HOSTILE)
        expect(hostile_row.locator(".row-preview")).to_contain_text(SCRIPT)
        expect(page.locator(".menu summary")).to_contain_text(f"Owner {TEMPLATE}{IMG}")

        hostile_row.get_by_role("link").click()
        expect(page.get_by_role("heading", level=2).first).to_have_text(HOSTILE)
        body = page.get_by_role("list", name="Messages").locator(".msg-body")
        expect(body).to_have_text(f"{SCRIPT}\n{IMG}\n{TEMPLATE}")
        panel = page.get_by_role("complementary", name="Visitor details")
        expect(panel).to_contain_text(f"{SCRIPT}@example.com")
        expect(panel).to_contain_text(f"javascript:alert(1)//{IMG}{TEMPLATE}")
        expect(panel).to_contain_text(f"{SCRIPT} {IMG} {TEMPLATE}")
        expect(panel).to_contain_text(f"Site {SCRIPT}")
        # A live message with the same payloads.
        hostile.say(f"{IMG} again {TEMPLATE}")
        expect(body.nth(1)).to_have_text(f"{IMG} again {TEMPLATE}")

        row(page, "Link Tester").get_by_role("link").click()
        expect(page.get_by_role("heading", name="Link Tester")).to_be_visible()

        assert page.locator("img").count() == 0
        assert page.locator("script:not([src])").count() == 0
        assert page.locator("a[href^='javascript:' i]").count() == 0
        # {{7*7}} never evaluated; times of day ("9:35:49 PM") and the owner's random
        # email ("owner19-fa4965@example.com" in the menu) are set aside first.
        text = (page.locator("body").text_content() or "").replace(owner.email, " ")
        text = re.sub(r"\d{1,2}:\d{2}(:\d{2})?", " ", text)
        assert "49" not in text
        assert watch.seen == []
        assert watch.errors == []
    for client in (setup, hostile, linker, refused):
        client.close()


def test_logged_out_browser_gets_login_for_every_console_url(
    browser: Browser, live_server: LiveServer
) -> None:
    with new_page(browser) as page:
        for path in CONSOLE_PATHS:
            response = page.goto(live_server.url + path)
            assert response is not None
            expect(page).to_have_url(re.compile(r"/admin/login(\?next=.*)?$"))
            expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
            headers = response.headers
            assert headers["content-security-policy"] == CONSOLE_CSP
            assert headers["cache-control"] == "no-store"
            assert headers["x-frame-options"] == "DENY"
            assert headers["cross-origin-opener-policy"] == "same-origin"
            assert headers["cross-origin-resource-policy"] == "same-origin"
        # A made-up or stale cookie is no better than none.
        page.context.add_cookies(
            [{"name": "chatdesk_session", "value": "cds_" + "x" * 43, "url": live_server.url}]
        )
        for path in ("/admin", "/admin/settings/tokens"):
            page.goto(live_server.url + path)
            expect(page).to_have_url(re.compile(r"/admin/login"))


def test_session_revoked_elsewhere_returns_to_login(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    owner = direct_operator(settings)
    setup = OperatorApi(live_server.url, owner)
    with new_page(browser) as page:
        sign_in_with(page, setup)
        expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
        setup.call("POST", "/api/v1/auth/logout", expect_status=204)
        # The live stream notices the revoked session and the page goes to sign-in.
        expect(page).to_have_url(re.compile(r"/admin/login"), timeout=10000)
        expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    setup.close()


def test_sign_in_errors_and_sign_out(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    agent = direct_operator(settings, "agent", "Alex Agent")
    with new_page(browser) as page:
        page.goto(url + "/admin/settings/sites")
        messages = []
        for email, password in [
            (agent.email, "not-the-password"),
            ("nobody@example.com", agent.password),
        ]:
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in", exact=True).click()
            alert = page.get_by_role("alert")
            expect(alert).to_have_text("Wrong email or password.")
            messages.append(alert.text_content())
            expect(page.get_by_label("Password")).to_have_value("")
        assert messages[0] == messages[1]
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("alert")).to_have_text("Enter your email and password.")

        page.get_by_label("Email").fill(agent.email)
        page.get_by_label("Password").fill(agent.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        wait_ready(page)
        expect(page).to_have_url(url + "/admin")  # agents are not sent on to settings
        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(page).to_have_url(url + "/admin/login")
        page.goto(url + "/admin")
        expect(page).to_have_url(re.compile(r"/admin/login"))


def test_agent_cannot_reach_settings(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site()
    agent = setup.create_operator("agent", "Alex Agent", site_ids=[site["id"]])
    with new_page(browser) as page:
        sign_in(page, url, agent)
        expect(page.get_by_role("link", name="Inbox")).to_be_visible()
        expect(page.get_by_role("link", name="Settings")).to_have_count(0)
        for section in ("", "/sites", "/operators", "/canned", "/tokens"):
            response = page.goto(f"{url}/admin/settings{section}")
            assert response is not None and response.status == 403
            expect(page.get_by_role("heading", name="Settings are for admins")).to_be_visible()
        csrf = page.request.get(url + "/api/v1/auth/me").json()["csrf_token"]
        headers = {"X-CSRF-Token": csrf, "Origin": url}
        calls = [
            ("GET", "/api/v1/sites", None),
            ("POST", "/api/v1/sites", {"name": "Mine now", "allowed_origins": []}),
            ("GET", f"/api/v1/sites/{site['id']}", None),
            ("PATCH", f"/api/v1/sites/{site['id']}", {"greeting": "hijacked"}),
            ("GET", "/api/v1/operators", None),
            (
                "POST",
                "/api/v1/operators",
                {
                    "email": "x@example.com",
                    "name": "X",
                    "role": "owner",
                    "password": "long-enough-pw",
                },
            ),
            ("PATCH", f"/api/v1/operators/{owner.id}", {"active": False}),
            ("POST", "/api/v1/canned-responses", {"shortcut": "x", "body": "y"}),
            ("GET", "/api/v1/api-tokens", None),
            ("POST", "/api/v1/api-tokens", {"name": "t", "role": "agent"}),
        ]
        for method, path, body in calls:
            response = page.request.fetch(url + path, method=method, data=body, headers=headers)
            assert response.status in (403, 404), (method, path, response.status)
        # ...while the operator API an agent needs works with the same session.
        assert page.request.get(url + "/api/v1/canned-responses").status == 200
    site_after = setup.call("GET", f"/api/v1/sites/{site['id']}")
    assert site_after["greeting"] != "hijacked"
    setup.close()
