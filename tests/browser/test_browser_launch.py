"""Chromium starts and renders a page served by chatdesk."""

from __future__ import annotations

from playwright.sync_api import Browser

from tests.conftest import LiveServer


def test_chromium_reads_health_endpoint(browser: Browser, live_server: LiveServer) -> None:
    page = browser.new_page()
    page.goto(f"{live_server.url}/healthz")
    assert '"status":"ok"' in page.content().replace(" ", "")
    page.close()
