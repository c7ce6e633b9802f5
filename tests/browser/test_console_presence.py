"""Presence in the console and the widget (real Chromium, live server): two operators see
each other's dot change as one sets Away, the assignee picker groups the team by presence,
you rename yourself in Account, an admin sets a site to need someone online and its
reply-time line, and the widget goes to its away mode when nobody is online."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DESKTOP,
    PHONE,
    DialogWatch,
    OperatorApi,
    Visitor,
    check_layout,
    direct_operator,
    new_page,
    screenshot,
    sign_in_with,
)
from tests.conftest import LiveServer

GRACE = 1.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A short grace: a closed console shows offline within a second or so.
    return settings.model_copy(update={"presence_grace_seconds": GRACE})


@pytest.fixture
def team(settings: Settings, live_server: LiveServer) -> Iterator[tuple[OperatorApi, OperatorApi]]:
    owner = OperatorApi(live_server.url, direct_operator(settings, "owner", "Olivia Owner"))
    agent = OperatorApi(live_server.url, owner.create_operator("agent", "Tom Teammate"))
    yield owner, agent
    owner.close()
    agent.close()


def dot(page: Page, scope: Locator | Page, operator_id: str) -> Locator:
    return scope.locator(f'[data-presence-of="{operator_id}"]')


def set_status(page: Page, status: str) -> None:
    page.locator("details.menu > summary").click()
    choice = page.get_by_role("group", name="Your status")
    choice.get_by_role("radio", name=status).check()
    expect(choice).not_to_have_attribute("aria-busy", "true")
    page.locator("main").click(position={"x": 5, "y": 5})  # close the menu


def test_colleagues_see_each_other_go_away_and_come_back(
    browser: Browser,
    live_server: LiveServer,
    team: tuple[OperatorApi, OperatorApi],
    screenshot_dir: Path,
) -> None:
    owner, agent = team
    tom = agent.operator.id
    site = owner.create_site("Shop")
    visitor = Visitor(live_server.url, site["site_key"], {"name": "Vera Visitor"})
    visitor.start("Is anyone there?")
    with new_page(browser) as olivia, new_page(browser) as tom_page:
        watch = DialogWatch(olivia)
        sign_in_with(olivia, owner, "/admin/settings/operators")
        row = olivia.get_by_role("row").filter(has_text="Tom Teammate")
        tom_dot = dot(olivia, row, tom)
        expect(tom_dot).to_have_attribute("data-presence", "offline")
        expect(tom_dot).to_have_text("Offline")  # the words a screen reader reads

        sign_in_with(tom_page, agent, "/admin")
        expect(tom_dot).to_have_attribute("data-presence", "online")  # live, no reload
        expect(tom_dot).to_have_text("Online")
        # Tom's own switch says Online, and his avatar's dot too.
        tom_page.locator("details.menu > summary").click()
        expect(tom_page.get_by_role("radio", name="Online")).to_be_checked()
        expect(dot(tom_page, tom_page, tom).first).to_have_attribute("data-presence", "online")
        for viewport, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
            tom_page.set_viewport_size(viewport)
            check_layout(tom_page)
            screenshot(tom_page, screenshot_dir, f"presence-status-menu-{label}")
        tom_page.set_viewport_size(DESKTOP)
        tom_page.locator("main").click(position={"x": 5, "y": 5})

        set_status(tom_page, "Away")
        expect(tom_dot).to_have_attribute("data-presence", "away")
        expect(tom_dot).to_have_text("Away")
        expect(dot(tom_page, tom_page, tom).first).to_have_attribute("data-presence", "away")
        olivia.set_viewport_size(DESKTOP)
        screenshot(olivia, screenshot_dir, "presence-operators-desktop")
        check_layout(olivia)
        olivia.set_viewport_size(PHONE)
        screenshot(olivia, screenshot_dir, "presence-operators-phone", full_page=True)
        check_layout(olivia)
        olivia.set_viewport_size(DESKTOP)

        # The choice is kept: a reload still says Away.
        tom_page.reload()
        tom_page.locator("details.menu > summary").click()
        expect(tom_page.get_by_role("radio", name="Away")).to_be_checked()
        tom_page.locator("main").click(position={"x": 5, "y": 5})
        set_status(tom_page, "Online")
        expect(tom_dot).to_have_attribute("data-presence", "online")

        # In the inbox, the assignee picker groups the team by presence.
        olivia.goto(live_server.url + "/admin")
        olivia.locator("#conversation-list li.row").filter(has_text="Vera Visitor").click()
        picker = olivia.get_by_label("Assignee", exact=True)
        expect(picker.locator('optgroup[label="Online"] option')).to_contain_text(
            ["Olivia Owner (you)", "Tom Teammate"]
        )
        picker.select_option(label="Tom Teammate")
        picker.blur()  # the picker is not redrawn while in use
        assignee_dot = dot(olivia, olivia.locator("#assignee-presence"), tom)
        expect(assignee_dot).to_have_attribute("data-presence", "online")
        set_status(tom_page, "Away")
        expect(picker.locator('optgroup[label="Away"] option')).to_have_text(["Tom Teammate"])
        expect(assignee_dot).to_have_attribute("data-presence", "away")
        expect(picker).to_have_value(tom)  # redrawn, still Tom
        screenshot(olivia, screenshot_dir, "presence-inbox-desktop")
        check_layout(olivia)
        olivia.set_viewport_size(PHONE)
        check_layout(olivia)
        screenshot(olivia, screenshot_dir, "presence-inbox-phone")
        olivia.set_viewport_size(DESKTOP)

        set_status(tom_page, "Online")
        expect(picker.locator('optgroup[label="Online"] option')).to_contain_text(["Tom Teammate"])
        # Tom closes the console: offline once the grace has passed.
        tom_page.close()
        expect(picker.locator('optgroup[label="Offline"] option')).to_have_text(
            ["Tom Teammate"], timeout=GRACE * 1000 + 8000
        )
        expect(assignee_dot).to_have_attribute("data-presence", "offline")
        assert watch.errors == []
    visitor.close()


def test_rename_yourself_in_account(
    browser: Browser, team: tuple[OperatorApi, OperatorApi], screenshot_dir: Path
) -> None:
    owner, _agent = team
    with new_page(browser) as page:
        watch = DialogWatch(page)
        sign_in_with(page, owner, "/admin/account")
        name = page.get_by_label("Your name")
        expect(name).to_have_value("Olivia Owner")
        name.fill("   ")
        page.get_by_role("button", name="Save name").click()
        expect(page.locator("#name-error")).to_have_text(
            "Enter your name: colleagues and visitors see it."
        )
        expect(name).to_have_attribute("aria-invalid", "true")
        name.fill("  Olivia Ortiz ")
        page.get_by_role("button", name="Save name").click()
        expect(page.locator("#name-status")).to_have_text("Name saved.")
        expect(name).to_have_value("Olivia Ortiz")
        expect(page.locator(".menu summary")).to_contain_text("Olivia Ortiz")
        assert owner.call("GET", "/api/v1/auth/me")["operator"]["name"] == "Olivia Ortiz"
        # A name over 100 characters (pasted past the field's limit) is refused, unsent.
        page.evaluate("document.getElementById('account-name-input').removeAttribute('maxlength')")
        name.fill("x" * 101)
        page.get_by_role("button", name="Save name").click()
        expect(page.locator("#name-error")).to_contain_text("at most 100 characters")
        for viewport, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
            page.set_viewport_size(viewport)
            page.reload()
            expect(page.get_by_label("Your name")).to_have_value("Olivia Ortiz")
            check_layout(page)
            screenshot(page, screenshot_dir, f"presence-account-{label}", full_page=True)
        assert watch.errors == []


def test_the_widget_is_away_while_nobody_who_answers_is_online(
    browser: Browser,
    live_server: LiveServer,
    team: tuple[OperatorApi, OperatorApi],
    screenshot_dir: Path,
) -> None:
    owner, agent = team
    site = owner.create_site("Demo shop", allowed_origins=[live_server.url])
    with new_page(browser) as admin_page:
        # The admin sets it up in the site's settings (then leaves the console).
        sign_in_with(admin_page, owner, f"/admin/settings/sites?site={site['id']}")
        form = admin_page.get_by_role("form", name="Widget settings for Demo shop")
        form.get_by_label("Reply time").fill("We reply within the hour")
        form.get_by_label("Show the chat as away while none of this site's agents").check()
        form.get_by_role("button", name="Save changes").click()
        expect(admin_page.get_by_role("status")).to_have_text("Saved.")
        for viewport, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
            admin_page.set_viewport_size(viewport)
            check_layout(admin_page)
            form.get_by_label("Reply time").scroll_into_view_if_needed()
            screenshot(admin_page, screenshot_dir, f"presence-site-settings-{label}")
    saved = owner.call("GET", f"/api/v1/sites/{site['id']}")
    assert (saved["require_agent_online"], saved["reply_time"]) == (
        True,
        "We reply within the hour",
    )

    with new_page(browser) as shopper:
        shopper.goto(live_server.url + "/demo")
        shopper.get_by_role("button", name="Open chat").click()
        frame = shopper.frame_locator("iframe[title=Chat]")
        # Nobody online (the admin's console closed more than the grace ago, or soon will).
        shopper.wait_for_timeout(GRACE * 1000 + 500)
        shopper.reload()
        shopper.get_by_role("button", name="Open chat").click()
        expect(frame.locator("#status")).to_have_text("Away right now · leave a message")
        expect(frame.get_by_role("button", name="Send message")).to_be_visible()
        screenshot(shopper, screenshot_dir, "presence-widget-away-desktop")
        shopper.set_viewport_size(PHONE)
        screenshot(shopper, screenshot_dir, "presence-widget-away-phone")
        shopper.set_viewport_size(DESKTOP)

        with new_page(browser) as tom_page:
            sign_in_with(tom_page, agent, "/admin")  # an agent of the site opens the console
            shopper.reload()
            shopper.get_by_role("button", name="Open chat").click()
            expect(frame.locator("#status")).to_have_text("We reply within the hour")
            expect(frame.get_by_role("button", name="Start chat")).to_be_visible()
            screenshot(shopper, screenshot_dir, "presence-widget-online-desktop")
