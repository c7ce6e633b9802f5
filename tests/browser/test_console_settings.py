"""Settings in the browser: sites and their widget, operators, canned responses, API tokens."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    OperatorApi,
    direct_operator,
    new_page,
    sign_in_with,
)
from tests.conftest import LiveServer


def test_site_settings_and_embed_snippet(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    site = setup.create_site("Shop")
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings")
        expect(page.get_by_role("heading", name="Sites", level=2)).to_be_visible()
        snippet = page.get_by_label("Embed snippet")
        expect(snippet).to_have_value(
            f'<script src="{url}/widget.js" data-site="{site["site_key"]}" async></script>'
        )
        page.get_by_label("Greeting").fill("Hi! We usually answer within minutes.")
        page.get_by_label("Allowed origins").fill(
            "https://shop.example.com\nhttps://www.example.com"
        )
        page.get_by_label("Launcher position").select_option("left")
        expect(page.get_by_label("Chat colours")).to_have_value("auto")
        page.get_by_label("Chat colours").select_option("dark")
        page.get_by_label("Ask for name before chat").select_option("required")
        page.get_by_label("Ask for email before chat").select_option("off")
        page.get_by_label("Only show as online during business hours").check()
        page.get_by_label("Time zone").fill("Europe/Paris")
        page.get_by_label("Saturday", exact=True).check()
        page.get_by_label("Saturday opens at").fill("10:00")
        page.get_by_label("Saturday closes at").fill("14:00")
        page.get_by_label("Offline message").fill("We are away; leave your email.")
        page.get_by_label("Require a signed identity token").check()
        page.get_by_label("Accept each identity token only once").check()
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        saved = setup.call("GET", f"/api/v1/sites/{site['id']}")
        assert saved["greeting"] == "Hi! We usually answer within minutes."
        assert saved["allowed_origins"] == ["https://shop.example.com", "https://www.example.com"]
        assert saved["position"] == "left"
        assert saved["theme"] == "dark"
        assert saved["prechat"] == {"name": "required", "email": "off"}
        assert saved["business_hours"]["timezone"] == "Europe/Paris"
        assert saved["business_hours"]["days"]["sat"] == [["10:00", "14:00"]]
        assert saved["business_hours"]["days"]["mon"] == [["09:00", "17:00"]]
        assert "sun" not in saved["business_hours"]["days"]
        assert saved["offline_message"] == "We are away; leave your email."
        assert saved["identity_required"] is True
        assert saved["identity_replay_protection"] is True

        secret = page.get_by_label("Identity secret")
        before = secret.input_value()
        rotate = page.get_by_role("button", name="Rotate secret")
        rotate.click()
        page.get_by_role("button", name="Click again to rotate").click()
        expect(page.get_by_role("status")).to_contain_text("new identity secret")
        expect(page.get_by_label("Identity secret")).not_to_have_value(before)

        # A bad origin is refused in words next to the field, nothing saved.
        page.get_by_label("Allowed origins").fill("not an origin")
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator(".field-error:visible")).to_have_text(
            "Must be an origin like https://shop.example.com (no path)"
        )
        expect(page.get_by_role("status")).to_contain_text("check the fields marked above")

        page.get_by_label("New site name").fill("Blog")
        page.get_by_label("Website origin").fill("https://blog.example.com")
        page.get_by_role("button", name="Add site").click()
        expect(page.get_by_role("status")).to_contain_text("Site added")
        expect(page.get_by_role("list", name="Sites")).to_contain_text("Blog")
        expect(page.get_by_label("Site name", exact=True)).to_have_value("Blog")
    assert {s["name"] for s in setup.call("GET", "/api/v1/sites")["sites"]} == {"Shop", "Blog"}
    setup.close()


def test_operators_canned_responses_and_tokens(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    url = live_server.url
    owner = direct_operator(settings)
    setup = OperatorApi(url, owner)
    setup.create_site("Shop")
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings/operators")
        page.get_by_label("Name", exact=True).fill("Nina New")
        page.get_by_label("Email", exact=True).fill("nina@example.com")
        page.get_by_label("Password").fill("a-long-password-1")
        page.get_by_label("Role", exact=True).select_option("agent")
        page.get_by_role("button", name="Add operator").click()
        expect(page.get_by_role("status")).to_contain_text("nina@example.com")
        nina = page.get_by_role("row").filter(has_text="Nina New")
        expect(nina).to_contain_text("Active")
        nina_sites = page.locator("summary").filter(has_text="Sites of Nina New")
        nina_sites.click()
        nina.get_by_label("Shop", exact=True).uncheck()
        page.get_by_role("button", name="Save sites of Nina New").click()
        expect(page.get_by_role("status")).to_contain_text("Nina New's sites were saved")
        expect(nina_sites).to_contain_text("No sites")
        page.get_by_label("Role of Nina New").select_option("admin")
        expect(page.get_by_role("status")).to_contain_text("Nina New is now admin")
        page.get_by_role("button", name="Deactivate Nina New").click()
        page.get_by_role("button", name="Deactivate Nina New").click()
        expect(nina).to_contain_text("Deactivated")
        operators = {o["email"]: o for o in setup.call("GET", "/api/v1/operators")["operators"]}
        assert operators["nina@example.com"]["role"] == "admin"
        assert operators["nina@example.com"]["active"] is False

        page.get_by_role("link", name="Canned responses").click()
        page.get_by_label("Shortcut").fill("hours")
        page.get_by_label("Response text").fill("We are open 9-17, Monday to Friday.")
        page.get_by_role("button", name="Add canned response").click()
        expect(page.get_by_role("table")).to_contain_text("/hours")
        page.get_by_role("button", name="Delete /hours").click()
        page.get_by_role("button", name="Delete /hours").click()
        expect(page.get_by_role("table")).to_have_count(0)
        assert setup.call("GET", "/api/v1/canned-responses")["canned_responses"] == []

        page.get_by_role("link", name="API tokens").click()
        page.get_by_label("Token name").fill("CRM sync")
        page.get_by_role("button", name="Create token").click()
        token = page.get_by_label("New API token")
        expect(token).to_have_value(re.compile(r"^cdk_"))
        value = token.input_value()
        check = setup.http.get(
            "/api/v1/conversations", headers={"Authorization": f"Bearer {value}"}
        )
        assert check.status_code == 200
        page.reload()
        expect(page.get_by_label("New API token")).to_have_count(0)
        assert value not in (page.content())
        page.get_by_role("button", name="Revoke CRM sync").click()
        page.get_by_role("button", name="Revoke CRM sync").click()
        expect(page.get_by_role("status")).to_contain_text("CRM sync was revoked")
        check = setup.http.get(
            "/api/v1/conversations", headers={"Authorization": f"Bearer {value}"}
        )
        assert check.status_code == 401
    setup.close()
