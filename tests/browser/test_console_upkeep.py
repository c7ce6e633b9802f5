"""The console's upkeep in Chromium: blocking a visitor (and what the widget then says),
an admin's password reset that forces a change, deleting a site by typing its name,
validation errors next to their fields and "Saved." next to the button pressed, and the
operators table on a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DESKTOP,
    PHONE,
    OperatorApi,
    direct_operator,
    new_page,
    screenshot,
    sign_in,
    sign_in_with,
    wait_ready,
)
from tests.conftest import LiveServer


def _owner(live_server: LiveServer, settings: Settings) -> OperatorApi:
    return OperatorApi(live_server.url, direct_operator(settings, "owner", name="Olivia Owner"))


def test_an_agent_blocks_a_visitor_who_is_told_politely_and_an_admin_lifts_it(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    setup = _owner(live_server, settings)
    setup.create_site("Demo shop", allowed_origins=[live_server.url])
    agent = setup.create_operator("agent", "Ann Agent")
    with new_page(browser) as visitor_page, new_page(browser) as agent_page:
        visitor_page.goto(live_server.url + "/demo")
        visitor_page.get_by_role("button", name="Open chat").click()
        frame = visitor_page.frame_locator("iframe[title=Chat]")
        frame.get_by_label("Name").fill("Troll")
        frame.get_by_role("button", name="Start chat").click()
        message = frame.get_by_role("textbox", name="Message")
        message.fill("first")
        message.press("Enter")
        expect(frame.locator(".msg").first).to_be_visible()

        sign_in(agent_page, live_server.url, agent)
        agent_page.locator("#conversation-list li.row").filter(has_text="Troll").click()
        block = agent_page.get_by_role("button", name="Block visitor")
        agent_page.get_by_label("Block for").select_option("3600")
        agent_page.get_by_label("Reason (optional, for your team)").fill("spam")
        block.click()
        agent_page.get_by_role("button", name="Click again to block").click()
        expect(agent_page.locator(".blocked-note")).to_contain_text("Blocked until")
        expect(agent_page.get_by_text("An admin can lift it.")).to_be_visible()
        screenshot(agent_page, screenshot_dir, "block-visitor-panel-1280")

        message.fill("more spam")
        message.press("Enter")
        notice = frame.locator("#notice")
        expect(notice).to_have_text(re.compile(r"^Sorry, you can't send messages in this chat"))
        expect(notice).not_to_contain_text("forbidden")
        screenshot(visitor_page, screenshot_dir, "block-widget-1280")

    # The owner lifts it from Settings → Blocks.
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings/blocks")
        row = page.locator("tr", has_text="Troll")
        expect(row).to_contain_text("spam")
        row.get_by_role("button", name="Lift the block of Troll").click()
        row.get_by_role("button", name="Click again to lift").click()
        expect(page.get_by_text("Nobody is blocked.")).to_be_visible()
        expect(page.locator(".inline-status")).to_have_count(0)
    setup.close()


def test_a_reset_password_must_be_replaced_at_the_next_sign_in(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    setup = _owner(live_server, settings)
    agent = setup.create_operator("agent", "Ann Agent")
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings/operators")
        row = page.locator("tr", has_text="Ann Agent")
        row.get_by_role("button", name="Reset password of Ann Agent").click()
        row.get_by_role("button", name="Click again to reset").click()
        shown = page.get_by_label("Temporary password for Ann Agent")
        expect(shown).to_be_visible()
        temporary = shown.input_value()
        assert len(temporary) >= 16
        # The confirmation is next to the button that was pressed, not at the top.
        expect(row.locator(".inline-status")).to_have_text(re.compile("password was reset"))
        expect(page.locator("#settings-status")).to_have_text("")
    agent.password = temporary
    with new_page(browser) as page:
        page.goto(live_server.url + "/admin/login")
        page.get_by_label("Email").fill(agent.email)
        page.get_by_label("Password").fill(temporary)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page).to_have_url(re.compile(r"/admin/account$"))
        expect(page.get_by_role("heading", name="Choose your own password")).to_be_visible()
        page.goto(live_server.url + "/admin")  # every other page sends them back
        expect(page).to_have_url(re.compile(r"/admin/account$"))
        page.get_by_label("Temporary password").fill(temporary)
        page.get_by_label("New password", exact=True).fill("my-own-password-1")
        page.get_by_label("Confirm new password").fill("my-own-password-1")
        page.get_by_role("button", name="Change password").click()
        expect(page).to_have_url(re.compile(r"/admin$"))
        wait_ready(page)
    setup.close()


def test_a_site_is_deleted_only_after_typing_its_name(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    setup = _owner(live_server, settings)
    setup.create_site("Keep me")
    doomed = setup.create_site("Old shop")
    with new_page(browser) as page:
        sign_in_with(page, setup, f"/admin/settings/sites?site={doomed['id']}")
        remove = page.get_by_role("button", name="Delete this site")
        expect(remove).to_be_disabled()
        typed = page.get_by_label("Type the site's name, Old shop, to confirm")
        typed.fill("Old sho")
        expect(remove).to_be_disabled()
        typed.fill("Old shop")
        remove.click()
        expect(page.locator("#settings-status")).to_have_text(re.compile("Old shop was deleted"))
        sites = page.get_by_role("list", name="Sites")
        expect(sites).to_contain_text("Keep me")
        expect(sites).not_to_contain_text("Old shop")
    assert [s["name"] for s in setup.call("GET", "/api/v1/sites")["sites"]] == ["Keep me"]
    setup.close()


def test_validation_errors_in_words_next_to_the_field_and_saved_next_to_save(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    setup = _owner(live_server, settings)
    setup.create_site("Shop")
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings/sites")
        origins = page.get_by_label("Allowed origins")
        origins.fill("shop.example.com/path")
        save = page.get_by_role("button", name="Save changes")
        save.click()
        error = page.locator(".field-error:visible")
        expect(error).to_have_text("Must be an origin like https://shop.example.com (no path)")
        expect(origins).to_have_attribute("aria-invalid", "true")
        described: Any = origins.get_attribute("aria-describedby") or ""
        assert error.get_attribute("id") in described.split()
        expect(page.locator(".inline-status")).to_contain_text("check the fields marked above")
        assert "pattern" not in page.locator("main").inner_text()
        screenshot(page, screenshot_dir, "settings-field-error-1280")
        origins.fill("https://shop.example.com")
        save.click()
        status = page.locator("button:has-text('Save changes') + .inline-status")
        expect(status).to_have_text("Saved.")
        expect(origins).not_to_have_attribute("aria-invalid", "true")
        expect(page.locator("#settings-status")).to_have_text("")
        # "Saved." is on screen where the button is, far down the long form.
        assert status.bounding_box() is not None
        save_box = save.bounding_box()
        status_box = status.bounding_box()
        assert save_box and status_box and abs(save_box["y"] - status_box["y"]) < 40
    setup.close()


def test_operators_and_tokens_tables_keep_their_buttons_on_a_phone(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    setup = _owner(live_server, settings)
    setup.create_site("Shop")
    setup.create_operator("agent", "Ann Agent with a rather long name")
    setup.call("POST", "/api/v1/api-tokens", {"name": "CRM sync", "role": "agent"}, 201)
    for path, name in (
        ("/admin/settings/operators", "Deactivate Ann Agent with a rather long name"),
        ("/admin/settings/tokens", "Revoke CRM sync"),
    ):
        with new_page(browser, PHONE) as page:
            sign_in_with(page, setup, path)
            button = page.get_by_role("button", name=name)
            button.scroll_into_view_if_needed()
            box = button.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
            screenshot(page, screenshot_dir, f"phone-{path.rsplit('/', 1)[1]}-390", full_page=True)
        with new_page(browser, DESKTOP) as page:
            sign_in_with(page, setup, path)
            screenshot(
                page, screenshot_dir, f"desktop-{path.rsplit('/', 1)[1]}-1280", full_page=True
            )
    setup.close()
