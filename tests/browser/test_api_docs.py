"""/api/docs in a real Chromium, with every other host unreachable: Swagger UI is drawn
from chatdesk's own files, under a CSP that allows no inline or third-party script."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, Route, expect

from tests.browser.console_helpers import DialogWatch, new_page
from tests.conftest import LiveServer


def test_the_api_docs_render_offline(browser: Browser, live_server: LiveServer) -> None:
    own = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        # A server without internet access: anything not chatdesk's fails to load.
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    with new_page(browser) as page:
        watch = DialogWatch(page)  # records page errors and CSP violations
        page.route("**/*", offline)
        page.goto(live_server.url + "/api/docs")
        operations = page.locator(".opblock-summary-path")
        expect(operations.filter(has_text="/api/v1/widget/sessions").first).to_be_visible()
        assert operations.count() > 30
        expect(page.locator(".info .title")).to_contain_text("chatdesk")
        # An operation opens with its parameters and responses, as a reader uses it.
        operations.filter(has_text="/api/v1/widget/sessions").first.click()
        expect(page.locator(".opblock-body .responses-wrapper").first).to_be_visible()
    assert elsewhere == []
    assert watch.errors == []
