"""The frame's first open, as it goes over the wire: at most 25 KB (issue 16, ADR 0028).

Counted as Chromium received it (Playwright's request sizes: the response headers
plus the encoded body) for every request the chat's frame makes on its first open:
the frame page, its style sheet and joined modules, the visitor's catalog and the
config. The loader and the launcher settings are the host page's (the loader has its
own budget, tests/browser/test_widget_pages.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Request, expect

from chatdesk.settings import Settings
from tests.browser.test_widget_i18n import catalog
from tests.browser.widget_helpers import make_site
from tests.conftest import LiveServer

BUDGET = 25 * 1024


def _name(path: str) -> str:
    """``/static/<version>/widget/frame.css`` -> ``widget/frame.css``; ``/widget/frame`` ->
    ``widget/frame``."""
    if path.startswith("/static/"):
        return path.split("/", 3)[3]
    return path.removeprefix("/")


def _first_open(browser: Browser, url: str, locale: str) -> list[dict[str, Any]]:
    context = browser.new_context(locale=locale)
    context.set_default_timeout(10_000)
    fetched: list[dict[str, Any]] = []
    problems: list[str] = []

    def finished(request: Request) -> None:
        response = request.response()
        if response is None or request.frame.parent_frame is None:
            return  # the host page's own requests (the page, the loader, the launcher)
        sizes = request.sizes()
        fetched.append(
            {
                "path": urlsplit(request.url).path,
                "status": response.status,
                "encoding": response.headers.get("content-encoding"),
                "headers": sizes["responseHeadersSize"],
                "body": sizes["responseBodySize"],
            }
        )

    try:
        page = context.new_page()
        page.on("requestfinished", finished)
        page.on("pageerror", lambda error: problems.append(str(error)))
        words = catalog(locale.split("-")[0])
        page.goto(url + "/demo")
        page.get_by_role("button", name=words["launcher_open"]).click()
        frame = page.frame_locator("iframe[title]")
        expect(frame.get_by_role("button", name=words["start_chat"])).to_be_visible()
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert problems == []
    return fetched


# Arabic: the largest catalog.
@pytest.mark.parametrize("locale", ["en-US", "ar-EG"])
def test_the_frames_first_open_fits_25_kb_over_the_wire(
    browser: Browser, live_server: LiveServer, settings: Settings, locale: str
) -> None:
    make_site(settings, "Demo shop", [live_server.url])
    fetched = _first_open(browser, live_server.url, locale)
    for fetch in fetched:
        print(f"{fetch['path']:<60} {fetch['encoding']} {fetch['headers']} + {fetch['body']} B")
    paths = {_name(f["path"]) for f in fetched}
    # The page, one style sheet, one script (the joined modules), the catalog, the config.
    assert len(fetched) == 5, paths
    assert {"widget/frame", "widget/frame.css", "widget/frame.bundle.js"} <= paths
    assert f"widget/i18n/{locale.split('-')[0]}.json" in paths
    assert all(f["status"] == 200 for f in fetched)
    wire = sum(f["headers"] + f["body"] for f in fetched)
    bodies = sum(f["body"] for f in fetched)
    print(f"first open ({locale}): {len(fetched)} requests, {bodies} B bodies, {wire} B wire")
    assert wire <= BUDGET
