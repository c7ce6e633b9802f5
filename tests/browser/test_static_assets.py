"""Chromium loads every module of the widget frame and of the console through the
content-hashed prefix, each cached as immutable (ADR 0010), and compressed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, expect

from chatdesk.settings import Settings
from chatdesk.web.assets import STATIC_DIR, static_version
from tests.browser.console_helpers import new_page, sign_in_with
from tests.browser.widget_helpers import OperatorApi, make_operator, make_site
from tests.conftest import LiveServer

IMMUTABLE = "public, max-age=31536000, immutable"


def _record(page: Page) -> list[Any]:
    seen: list[Any] = []
    page.on("response", lambda response: seen.append(response))
    return seen


def _static(responses: list[Any], folder: str) -> set[str]:
    """The files of ``folder`` loaded, after checking every static response."""
    prefix = f"/static/{static_version()}/"
    loaded = set()
    for response in responses:
        path = urlsplit(response.url).path
        if not path.startswith("/static/"):
            continue
        assert path.startswith(prefix), path
        assert response.status == 200, path
        headers = response.headers
        assert headers["cache-control"] == IMMUTABLE, path
        assert headers.get("content-encoding") in ("br", "gzip"), path
        if path.startswith(prefix + folder + "/"):
            loaded.add(path.removeprefix(prefix))
    return loaded


def _files(folder: str, *, leave_out: set[str]) -> set[str]:
    return {
        p.relative_to(STATIC_DIR).as_posix()
        for p in (STATIC_DIR / folder).glob("*.js")
        if p.name not in leave_out
    } | {
        p.relative_to(STATIC_DIR).as_posix()
        for p in (STATIC_DIR / folder).glob("*.css")
        if p.name not in leave_out
    }


def test_the_widget_frame_loads_its_joined_modules_through_the_hashed_prefix(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    make_site(settings, "Demo shop", [live_server.url])
    with new_page(browser) as page:
        responses = _record(page)
        page.goto(live_server.url + "/demo")
        page.get_by_role("button", name="Open chat").click()
        frame = page.frame_locator("iframe[title=Chat]")
        expect(frame.get_by_role("button", name="Start chat")).to_be_visible()
        page.wait_for_load_state("networkidle")
        # The loader is served at /widget.js, not from /static/; demo.css is the shop's.
        # The frame's modules come joined in one file (ADR 0028), none on its own. Of the
        # catalogs, only the visitor's (English here). The upload and rating modules come
        # with a first file and a resolved chat (tests/browser/test_widget_attachments.py,
        # test_widget_rating.py).
        expected = {
            "widget/frame.bundle.js",
            "widget/frame.css",
            "widget/demo/demo.css",
            "widget/i18n/en.json",
        }
        assert _static(responses, "widget") == expected


def test_the_console_loads_every_module_through_the_hashed_prefix(
    browser: Browser, live_server: LiveServer, settings: Settings
) -> None:
    setup = OperatorApi(live_server, make_operator(settings, "owner"))
    try:
        with new_page(browser) as page:
            responses = _record(page)
            for path in ("/admin", "/admin/settings", "/admin/account", "/admin/reports"):
                sign_in_with(page, setup, path)
                page.wait_for_load_state("networkidle")
            # The signed-out pages' modules (sign in, forgotten password, the link that sets
            # one) are the ones a signed-in operator never loads.
            signed_out = {"login.js", "passkey_login.js", "forgot.js", "reset.js"}
            assert _static(responses, "console") == _files("console", leave_out=signed_out)
    finally:
        setup.close()
