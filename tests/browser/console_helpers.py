"""Helpers for the console's browser tests: operators, visitors and a signed-in page.

Data is made the way production makes it: the first operator through the real
action (as ``chatdesk create-operator`` does), everything else over HTTP.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from chatdesk.db.runner import Database, Unit
from chatdesk.settings import Settings
from tests.conftest import LiveServer
from tests.factories import Operator, add_operator, bearer

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROME_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)


def direct_operator(
    settings: Settings, role: str = "owner", name: str = "Olivia Owner", email: str | None = None
) -> Operator:
    """An operator created by the real action on the live server's database."""
    db = Database(settings.database_url)
    db.start()
    try:
        return add_operator(db, role, name=name, email=email)
    finally:
        db.stop()


class OperatorApi:
    """An operator signed in over HTTP (cookie + CSRF), for setting up data."""

    def __init__(self, base_url: str, operator: Operator) -> None:
        self.operator = operator
        self.http = httpx.Client(base_url=base_url, timeout=10)
        response = self.http.post(
            "/api/v1/auth/login", json={"email": operator.email, "password": operator.password}
        )
        assert response.status_code == 200, response.text
        self.csrf = response.json()["csrf_token"]

    def call(self, method: str, path: str, body: Any = None, expect_status: int = 200) -> Any:
        response = self.http.request(method, path, json=body, headers={"X-CSRF-Token": self.csrf})
        assert response.status_code == expect_status, response.text
        return response.json() if response.content else None

    def create_site(self, name: str = "Shop", **fields: Any) -> dict[str, Any]:
        body = {"name": name, "allowed_origins": ["https://shop.example.com"], **fields}
        result: dict[str, Any] = self.call("POST", "/api/v1/sites", body, 201)
        return result

    def create_operator(self, role: str, name: str, **extra: Any) -> Operator:
        email = f"{role}-{secrets.token_hex(4)}@example.com"
        password = "pw-" + secrets.token_urlsafe(12)
        body = {"email": email, "name": name, "role": role, "password": password, **extra}
        shape = self.call("POST", "/api/v1/operators", body, 201)
        return Operator(shape["id"], email, password, role)

    def close(self) -> None:
        self.http.close()


@dataclass
class Visitor:
    """A website visitor talking through the widget API, as the widget does."""

    base_url: str
    site_key: str
    profile: dict[str, Any] = field(default_factory=dict)
    user_agent: str = CHROME_UA
    token: str = ""  # a session made elsewhere (see stored_visitor); else one is started

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.base_url, timeout=10, headers={"User-Agent": self.user_agent}
        )
        if self.token:
            response = self.http.get("/api/v1/widget/visitor", headers=bearer(self.token))
            assert response.status_code == 200, response.text
            self.id: str = response.json()["id"]
        else:
            response = self.http.post(
                "/api/v1/widget/sessions", json={"site_key": self.site_key, **self.profile}
            )
            assert response.status_code == 201, response.text
            self.token = response.json()["visitor_token"]
            self.id = response.json()["visitor"]["id"]
        self.conversation_id: str | None = None

    def start(self, body: str) -> dict[str, Any]:
        response = self.http.post(
            "/api/v1/widget/conversations",
            json={"body": body, "client_msg_id": secrets.token_hex(8)},
            headers=bearer(self.token),
        )
        assert response.status_code == 201, response.text
        conversation: dict[str, Any] = response.json()["conversation"]
        self.conversation_id = conversation["id"]
        return conversation

    def say(self, body: str) -> dict[str, Any]:
        response = self.http.post(
            f"/api/v1/widget/conversations/{self.conversation_id}/messages",
            json={"body": body, "client_msg_id": secrets.token_hex(8)},
            headers=bearer(self.token),
        )
        assert response.status_code == 201, response.text
        message: dict[str, Any] = response.json()
        return message

    def upload(self, data: bytes, name: str, content_type: str) -> dict[str, Any]:
        response = self.http.post(
            f"/api/v1/widget/conversations/{self.conversation_id}/attachments",
            files={"file": (name, data, content_type)},
            headers=bearer(self.token),
        )
        assert response.status_code == 201, response.text
        attachment: dict[str, Any] = response.json()
        return attachment

    def send_files(self, attachment_ids: list[str], body: str = "") -> dict[str, Any]:
        response = self.http.post(
            f"/api/v1/widget/conversations/{self.conversation_id}/messages",
            json={
                "body": body,
                "client_msg_id": secrets.token_hex(8),
                "attachment_ids": attachment_ids,
            },
            headers=bearer(self.token),
        )
        assert response.status_code == 201, response.text
        message: dict[str, Any] = response.json()
        return message

    def typing(self) -> None:
        response = self.http.post(
            f"/api/v1/widget/conversations/{self.conversation_id}/typing",
            headers=bearer(self.token),
        )
        assert response.status_code == 204, response.text

    def messages(self) -> list[dict[str, Any]]:
        response = self.http.get(
            f"/api/v1/widget/conversations/{self.conversation_id}/messages",
            headers=bearer(self.token),
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["messages"]
        return found

    def close(self) -> None:
        self.http.close()


class DialogWatch:
    """Records every JS dialog (alert/confirm/prompt) a page opens, and dismisses it."""

    def __init__(self, page: Page) -> None:
        self.seen: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        # CSP violations are reported on the console; the console pages must cause none.
        if "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def _on_dialog(self, dialog: Any) -> None:
        self.seen.append(dialog.message)
        dialog.dismiss()


@contextmanager
def new_page(
    browser: Browser, viewport: dict[str, int] | None = None, **options: Any
) -> Iterator[Page]:
    """A page in a fresh context, closed even when the test fails (so no stream outlives it).

    ``options`` go to ``browser.new_context`` (e.g. ``timezone_id``, ``locale``)."""
    context: BrowserContext = browser.new_context(viewport=viewport or DESKTOP, **options)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        page.set_default_timeout(8000)
        yield page
    finally:
        context.close()


def sign_in(page: Page, base_url: str, operator: Operator, path: str = "/admin") -> None:
    """Sign in through the login form and wait until the page is live."""
    page.goto(base_url + path)
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.get_by_label("Email").fill(operator.email)
    page.get_by_label("Password").fill(operator.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    wait_ready(page)


def sign_in_with(page: Page, setup: OperatorApi, path: str = "/admin") -> None:
    """Reuse ``setup``'s session in the browser (saves a password check; the sign-in form
    itself is exercised by the shift and sign-in tests)."""
    base_url = str(setup.http.base_url).rstrip("/")
    cookie = setup.http.cookies.get("chatdesk_session")
    assert cookie
    page.context.add_cookies([{"name": "chatdesk_session", "value": cookie, "url": base_url}])
    page.goto(base_url + path)
    wait_ready(page)


def wait_ready(page: Page) -> None:
    expect(page.locator("body[data-ready='1']")).to_have_count(1)


def screenshot(page: Page, directory: Path, name: str, *, full_page: bool = False) -> Path:
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


UNNAMED_CONTROLS = """
() => [...document.querySelectorAll('button, input, select, textarea, a[href], summary')]
  .filter((el) => el.getClientRects().length > 0)
  .filter((el) => {
    const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
      (el.labels && el.labels.length) || (el.textContent || '').trim();
    return !named;
  })
  .map((el) => el.outerHTML.slice(0, 120))
"""


def check_layout(page: Page) -> None:
    """No sideways scrolling at this width, and every visible control has a name."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"page is {overflow}px wider than the viewport"
    assert page.evaluate(UNNAMED_CONTROLS) == []


# Where a control is, without scrolling anything sideways: the window is scrolled only
# up or down to it, then its box must lie inside the viewport and inside every box that
# clips it (a scrolling table, a scrolling row of links), and a click at its centre must
# land on it.
ON_SCREEN = """
(el) => {
  const before = el.getBoundingClientRect();
  window.scrollBy(0, before.top + before.height / 2 - window.innerHeight / 2);
  const r = el.getBoundingClientRect();
  const at = (n) => Math.round(n);
  const problems = [];
  if (r.width === 0 || r.height === 0) problems.push('has no size');
  if (r.left < -0.5 || r.right > window.innerWidth + 0.5) {
    problems.push(`spans x ${at(r.left)}..${at(r.right)} of a ${window.innerWidth}px viewport`);
  }
  if (r.top < -0.5 || r.bottom > window.innerHeight + 0.5) {
    problems.push(`spans y ${at(r.top)}..${at(r.bottom)} of a ${window.innerHeight}px viewport`);
  }
  for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
    if (getComputedStyle(box).overflowX === 'visible') continue;
    const b = box.getBoundingClientRect();
    if (r.left < b.left - 0.5 || r.right > b.right + 0.5) {
      const name = `${box.tagName.toLowerCase()}.${box.className}`;
      problems.push(`is cut off by ${name} (x ${at(b.left)}..${at(b.right)})`);
    }
  }
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (!hit || !(hit === el || el.contains(hit))) {
    problems.push(`is covered by ${hit ? hit.outerHTML.slice(0, 80) : 'nothing'}`);
  }
  return problems;
}
"""


def assert_no_sideways_scroll(page: Page) -> None:
    """The page is no wider than the window (so nothing is reached by scrolling sideways)."""
    scroll_width, width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= width, f"the page is {scroll_width}px wide in a {width}px window"


def assert_on_screen(control: Locator, what: str) -> None:
    """``control`` is in sight and clickable where it is, with no sideways scrolling."""
    problems = control.evaluate(ON_SCREEN)
    assert problems == [], f"{what}: {'; '.join(problems)}"
    control.click(trial=True)  # Playwright's own checks: visible, enabled, gets the click


def row(page: Page, text: str) -> Any:
    """The inbox row whose text contains ``text``."""
    return page.locator("#conversation-list li.row").filter(has_text=text)


__all__ = [
    "DESKTOP",
    "PHONE",
    "DialogWatch",
    "LiveServer",
    "OperatorApi",
    "Visitor",
    "assert_no_sideways_scroll",
    "assert_on_screen",
    "check_layout",
    "direct_operator",
    "new_page",
    "row",
    "screenshot",
    "sign_in",
    "sign_in_with",
    "stored_visitor",
    "wait_ready",
]


def stored_visitor(
    settings: Settings,
    base_url: str,
    site_key: str,
    profile: dict[str, str | None],
    user_agent: str = CHROME_UA,
) -> Visitor:
    """A visitor whose profile the real action stored without the API's input checks: data
    from before those checks existed, which the console must still show as plain text."""
    from chatdesk.actions.visitors import create_session

    db = Database(settings.database_url)
    db.start()
    try:
        token, _visitor = db.write_sync(
            create_session, site_key, {**profile, "user_agent": user_agent}, None
        )
    finally:
        db.stop()
    return Visitor(base_url, site_key, user_agent=user_agent, token=token)


def bulk_conversations(settings: Settings, site_key: str, count: int) -> list[str]:
    """``count`` visitors each with a conversation, made by the real actions (no rate limits:
    this is seed data, like ``chatdesk demo``); returns the conversation ids, oldest first."""
    db = Database(settings.database_url)
    db.start()
    ids: list[str] = []
    try:
        for index in range(count):
            ids.append(db.write_sync(_bulk_conversation, site_key, index))
    finally:
        db.stop()
    return ids


def _bulk_conversation(unit: Unit, site_key: str, index: int) -> str:
    from chatdesk.actions.conversations import start_conversation
    from chatdesk.actions.visitors import create_session
    from chatdesk.security.auth import visitor_from_token

    profile: dict[str, str | None] = {"name": f"Bulk Visitor {index:02d}"}
    token, _visitor = create_session(unit, site_key, profile, None)
    actor = visitor_from_token(unit.conn, token)
    assert actor is not None
    conversation, _message, _created = start_conversation(
        unit, actor, f"Question number {index:02d}", f"bulk-{index}"
    )
    return str(conversation["id"])
