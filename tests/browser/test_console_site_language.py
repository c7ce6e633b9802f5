"""Settings → Sites: the widget's language and the site's own words per language."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import OperatorApi, direct_operator, new_page, sign_in_with
from tests.conftest import LiveServer


def test_widget_language_and_own_words_are_saved(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    setup = OperatorApi(live_server.url, direct_operator(settings))
    site = setup.create_site("Shop")
    with new_page(browser) as page:
        sign_in_with(page, setup, "/admin/settings")
        language = page.get_by_label("Widget language")
        expect(language).to_have_value("auto")
        language.select_option("de")
        page.get_by_label("Language of the text").select_option("de")
        page.get_by_label("Which text").select_option("greeting")
        page.get_by_label("Your text").fill("Servus! Was dürfen wir für Sie tun?")
        page.get_by_role("button", name="Use this text").click()
        own = page.get_by_role("list", name="Your own words")
        expect(own).to_contain_text("de · greeting")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        saved = setup.call("GET", f"/api/v1/sites/{site['id']}")
        assert saved["locale"] == "de"
        assert saved["strings"] == {"de": {"greeting": "Servus! Was dürfen wir für Sie tun?"}}

        # Drawn again from what was saved; removing the text and saving drops it.
        expect(page.get_by_label("Widget language")).to_have_value("de")
        page.get_by_role("button", name="Remove German (Deutsch) greeting").click()
        expect(page.get_by_role("list", name="Your own words")).to_contain_text("None yet")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        assert setup.call("GET", f"/api/v1/sites/{site['id']}")["strings"] == {}
