"""Framing rules per surface, in a real browser: the console and the API refuse to be framed."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.browser.widget_helpers import HostServer
from tests.conftest import LiveServer


def test_console_and_api_cannot_be_framed_by_another_site(
    browser: Browser, live_server: LiveServer
) -> None:
    host = HostServer()
    try:
        url = host.add(
            "/clickjack.html",
            "<!doctype html><title>evil</title>"
            f'<iframe id="console" src="{live_server.url}/admin/login"></iframe>'
            f'<iframe id="api" src="{live_server.url}/healthz"></iframe>',
        )
        page = browser.new_page()
        blocked: list[str] = []
        page.on("console", lambda msg: blocked.append(msg.text))
        page.goto(url)
        page.wait_for_load_state("load")
        for name in ("console", "api"):
            frame = page.frame_locator(f"#{name}")
            # A refused frame shows Chromium's error page, never the framed document.
            assert frame.locator("input[type=password]").count() == 0
            assert frame.get_by_text('"status"').count() == 0
        assert any("frame-ancestors" in text or "Refused to display" in text for text in blocked)
        page.close()
    finally:
        host.stop()
