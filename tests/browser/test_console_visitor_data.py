"""The visitor panel's "Their data" (Chromium): an admin downloads everything stored about a
visitor, then erases them; an agent is not offered either."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    OperatorApi,
    Visitor,
    direct_operator,
    new_page,
    sign_in_with,
)
from tests.conftest import LiveServer


def test_an_admin_downloads_then_erases_a_visitor(
    browser: Browser, live_server: LiveServer, settings: Settings, tmp_path: Path
) -> None:
    setup = OperatorApi(live_server.url, direct_operator(settings))
    site = setup.create_site()
    visitor = Visitor(live_server.url, site["site_key"], {"name": "Gina Gone"})
    visitor.start("Please delete my data")
    stays = Visitor(live_server.url, site["site_key"], {"name": "Sam Stays"})
    stays.start("Hello")
    with new_page(browser) as page:
        sign_in_with(page, setup, f"/admin/conversations/{visitor.conversation_id}")
        panel = page.get_by_role("complementary", name="Visitor details")
        with page.expect_download() as download:
            panel.get_by_role("button", name="Download their data").click()
        saved = tmp_path / "export.json"
        download.value.save_as(saved)
        exported = json.loads(saved.read_text())
        assert exported["visitor"]["name"] == "Gina Gone"
        assert exported["conversations"][0]["messages"][0]["body"] == "Please delete my data"

        erase = panel.get_by_role(
            "button", name="Erase this visitor with their conversations and files"
        )
        erase.click()
        panel.get_by_role("button", name="Erase for good?: Erase this visitor", exact=False).click()
        expect(page).to_have_url(live_server.url + "/admin")
        rows = page.locator("#conversation-list li.row")
        expect(rows.filter(has_text="Gina Gone")).to_have_count(0)
        expect(rows.filter(has_text="Sam Stays")).to_have_count(1)
    gone = setup.http.get(f"/api/v1/conversations/{visitor.conversation_id}")
    assert gone.status_code == 404
    visitor.close()
    stays.close()
    setup.close()


def test_an_agent_is_not_offered_a_visitors_data(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    owner = OperatorApi(live_server.url, direct_operator(settings))
    site = owner.create_site()
    agent = OperatorApi(live_server.url, owner.create_operator("agent", "Andy Agent"))
    visitor = Visitor(live_server.url, site["site_key"], {"name": "Vic Visitor"})
    visitor.start("Hi")
    with new_page(browser) as page:
        sign_in_with(page, agent, f"/admin/conversations/{visitor.conversation_id}")
        panel = page.get_by_role("complementary", name="Visitor details")
        expect(panel).to_contain_text("Vic Visitor")
        expect(panel.get_by_role("button", name="Download their data")).to_have_count(0)
        expect(panel.get_by_text("Their data")).to_be_hidden()
    visitor.close()
    agent.close()
    owner.close()
