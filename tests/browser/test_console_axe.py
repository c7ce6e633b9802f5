"""axe-core on every console page and on the widget (closed and open): no serious or
critical violation. axe-core comes from npm (package.json, a devDependency) and is
injected by the test from node_modules; the product never serves it. The pages' CSP
forbids injected scripts, so these contexts bypass CSP (the product's pages are as
served otherwise). Each page is also screenshot at 1280 and 390 px."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DESKTOP,
    PHONE,
    OperatorApi,
    Visitor,
    direct_operator,
    screenshot,
    wait_ready,
)
from tests.conftest import LiveServer

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"1280": DESKTOP, "390": PHONE}
SETTINGS_SECTIONS = [
    "sites",
    "operators",
    "canned",
    "tokens",
    "webhooks",
    "emails",
    "blocks",
    "audit",
]
SERIOUS = {"serious", "critical"}

RUN_AXE = """
async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ' :: ' + n.failureSummary),
  }));
}
"""


def _axe(target: Page | Frame) -> list[dict[str, Any]]:
    assert AXE.exists(), "axe-core is missing: run npm ci (make node_modules/.installed)"
    target.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = target.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in SERIOUS]


def _report(where: str, violations: list[dict[str, Any]]) -> list[str]:
    return [f"{where}: {v['id']} ({v['impact']}) {v['help']}: {v['nodes']}" for v in violations]


@pytest.fixture
def world(live_server: LiveServer, settings: Settings) -> dict[str, Any]:
    owner = direct_operator(settings, "owner", name="Olivia Owner")
    setup = OperatorApi(live_server.url, owner)
    site = setup.create_site("Demo shop", allowed_origins=[live_server.url])
    setup.create_operator("agent", "Ann Agent")
    setup.call("POST", "/api/v1/canned-responses", {"shortcut": "hi", "body": "Hello!"}, 201)
    setup.call("POST", "/api/v1/api-tokens", {"name": "CRM sync", "role": "agent"}, 201)
    visitor = Visitor(live_server.url, site["site_key"], {"name": "Maya Okafor"})
    conversation = visitor.start("Do the Trail Runner 2 shoes run true to size?")
    setup.call(
        "POST",
        f"/api/v1/conversations/{conversation['id']}/messages",
        {"body": "They run half a size small.", "client_msg_id": secrets.token_hex(6)},
        201,
    )
    blocked = Visitor(live_server.url, site["site_key"], {"name": "Troll"})
    setup.call("POST", "/api/v1/blocks", {"visitor_id": blocked.id, "duration_seconds": 3600}, 201)
    return {"setup": setup, "conversation": conversation, "site": site, "owner": owner}


def _console_pages(conversation_id: str) -> list[tuple[str, str]]:
    pages = [("inbox", "/admin"), ("conversation", f"/admin/conversations/{conversation_id}")]
    pages += [(f"settings-{s}", f"/admin/settings/{s}") for s in SETTINGS_SECTIONS]
    pages.append(("account", "/admin/account"))
    pages.append(("reports", "/admin/reports"))
    return pages


def test_every_console_page_has_no_serious_axe_violation(
    browser: Browser, live_server: LiveServer, world: dict[str, Any], screenshot_dir: Path
) -> None:
    setup: OperatorApi = world["setup"]
    cookie = setup.http.cookies.get("chatdesk_session")
    assert cookie
    problems: list[str] = []
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, bypass_csp=True)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        try:
            page = context.new_page()
            page.goto(live_server.url + "/admin/login")
            expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
            problems += _report(f"login@{size}", _axe(page))
            screenshot(page, screenshot_dir, f"axe-login-{size}")
            context.add_cookies(
                [{"name": "chatdesk_session", "value": cookie, "url": live_server.url}]
            )
            for name, path in _console_pages(world["conversation"]["id"]):
                page.goto(live_server.url + path)
                wait_ready(page)
                if name == "conversation":
                    expect(page.locator("#transcript .msg").first).to_be_visible()
                    if size == "390":  # the visitor panel is a drawer there
                        page.get_by_role("button", name="Visitor details").click()
                    expect(page.get_by_role("button", name="Block visitor")).to_be_visible()
                problems += _report(f"{name}@{size}", _axe(page))
                screenshot(page, screenshot_dir, f"axe-{name}-{size}", full_page=True)
        finally:
            context.close()
    assert not problems, "\n".join(problems)


def test_the_widget_closed_and_open_has_no_serious_axe_violation(
    browser: Browser, live_server: LiveServer, world: dict[str, Any], screenshot_dir: Path
) -> None:
    problems: list[str] = []
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, bypass_csp=True)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        try:
            page = context.new_page()
            page.goto(live_server.url + "/demo")
            launcher = page.get_by_role("button", name="Open chat")
            expect(launcher).to_be_visible()
            problems += _report(f"widget-closed@{size}", _axe(page))
            launcher.click()
            frame_view = page.frame_locator("iframe[title=Chat]")
            expect(frame_view.get_by_role("button", name="Start chat")).to_be_visible()
            frame = next(f for f in page.frames if "/widget/frame" in f.url)
            problems += _report(f"widget-prechat@{size}", _axe(frame))
            frame_view.get_by_label("Name").fill("Vera Visitor")
            frame_view.get_by_role("button", name="Start chat").click()
            message = frame_view.get_by_role("textbox", name="Message")
            message.fill("Hello there")
            message.press("Enter")
            expect(frame_view.locator(".msg").first).to_be_visible()
            problems += _report(f"widget-open@{size}", _axe(frame))
            screenshot(page, screenshot_dir, f"axe-widget-open-{size}")
        finally:
            context.close()
    assert not problems, "\n".join(problems)
