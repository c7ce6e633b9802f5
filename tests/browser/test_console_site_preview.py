"""Settings → Sites: a drawing of the widget beside the form, redrawn as the owner types."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import OperatorApi, direct_operator, new_page, sign_in_with
from tests.conftest import LiveServer


def test_the_preview_follows_the_form_as_it_is_edited(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    setup = OperatorApi(live_server.url, direct_operator(settings))
    setup.create_site("Shop", prechat={"name": "optional", "email": "off"})
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings")
        preview = page.get_by_role("figure", name="Widget preview")
        expect(preview).to_contain_text("Shop")
        expect(preview).to_contain_text("Name (optional)")
        expect(preview).to_contain_text("Start chat")

        # Typing changes it at once, before anything is saved.
        page.get_by_label("Greeting").fill("Ahoy! Ask us anything.")
        expect(preview.locator(".preview-bubble")).to_have_text("Ahoy! Ask us anything.")
        page.get_by_label("Site name", exact=True).fill("Harbour Shop")
        expect(preview.locator(".preview-title")).to_have_text("Harbour Shop")
        page.get_by_label("Reply time").fill("Back within the hour")
        expect(preview.locator(".preview-status")).to_have_text("Back within the hour")
        page.get_by_label("Ask for email before chat").select_option("required")
        expect(preview).to_contain_text("Email")
        page.get_by_label("Ask for name before chat").select_option("off")
        page.get_by_label("Ask for email before chat").select_option("off")
        expect(preview.locator(".preview-field")).to_have_count(0)
        expect(preview).to_contain_text("Type your message…")

        # Colour and corner.
        page.get_by_label("Accent colour").fill("#ffcc00")
        head = preview.locator(".preview-head")
        expect(head).to_have_css("background-color", "rgb(255, 204, 0)")
        expect(head).to_have_css("color", "rgb(17, 24, 39)")  # dark text on a light colour
        page.get_by_label("Launcher position").select_option("left")
        expect(preview.locator(".preview-stage")).to_have_attribute("data-position", "left")

        # The visitor's language: the stock words in German, right to left in Arabic.
        page.get_by_label("Greeting").fill("")
        page.get_by_label("Widget language").select_option("de")
        expect(preview).to_contain_text("Nachricht")
        page.get_by_label("Widget language").select_option("ar")
        expect(preview).to_have_attribute("dir", "rtl")
    setup.close()
