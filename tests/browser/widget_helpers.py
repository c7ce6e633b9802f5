"""Helpers for the widget's browser tests: sites and operators made by the real actions,
an operator speaking through the HTTP API, and a tiny second web server for host pages."""

from __future__ import annotations

import io
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from PIL import Image
from playwright.sync_api import FrameLocator
from playwright.sync_api import Page as BrowserPage
from sqlalchemy import update

from chatdesk.actions.sites import create_site
from chatdesk.db.runner import Database, Unit
from chatdesk.db.tables import sites
from chatdesk.settings import Settings
from tests.conftest import LiveServer, free_port
from tests.factories import Operator, add_operator


@contextmanager
def database(settings: Settings) -> Iterator[Database]:
    """A Database of the test's own beside the live server's (same tables)."""
    db = Database(settings.database_url, read_threads=1)
    db.start()
    try:
        yield db
    finally:
        db.stop()


def png(colour: tuple[int, int, int], size: tuple[int, int] = (320, 200)) -> bytes:
    """A PNG of one colour, 320 x 200 unless told: an image thumbnail shows it smaller."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def make_site(settings: Settings, name: str, origins: list[str], **fields: Any) -> dict[str, Any]:
    with database(settings) as db:
        site: dict[str, Any] = db.write_sync(
            create_site, None, {"name": name, "allowed_origins": origins, **fields}
        )
        return site


def _update_site(unit: Unit, site_id: str, values: dict[str, Any]) -> None:
    unit.conn.execute(update(sites).where(sites.c.id == site_id).values(**values))


def change_site(settings: Settings, site_id: str, **values: Any) -> None:
    with database(settings) as db:
        db.write_sync(_update_site, site_id, values)


def make_operator(settings: Settings, role: str = "admin") -> Operator:
    with database(settings) as db:
        return add_operator(db, role, name="Olivia Operator")


class OperatorApi:
    """The operator side, through the same HTTP API the console uses (cookie + CSRF)."""

    def __init__(self, live_server: LiveServer, operator: Operator) -> None:
        self.http = httpx.Client(base_url=live_server.url, timeout=10)
        response = self.http.post(
            "/api/v1/auth/login", json={"email": operator.email, "password": operator.password}
        )
        assert response.status_code == 200, response.text
        self.csrf = response.json()["csrf_token"]

    def conversations(self) -> list[dict[str, Any]]:
        response = self.http.get("/api/v1/conversations")
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["conversations"]
        return found

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/api/v1/conversations/{conversation_id}/messages")
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["messages"]
        return found

    def reply(self, conversation_id: str, body: str) -> dict[str, Any]:
        response = self.http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"body": body, "client_msg_id": secrets.token_hex(8)},
            headers={"X-CSRF-Token": self.csrf},
        )
        assert response.status_code == 201, response.text
        message: dict[str, Any] = response.json()
        return message

    def send_file(
        self, conversation_id: str, name: str, data: bytes, mime: str, body: str
    ) -> dict[str, Any]:
        """Upload a file into the conversation and send it in a message with ``body``."""
        upload = self.http.post(
            f"/api/v1/conversations/{conversation_id}/attachments",
            files={"file": (name, data, mime)},
            headers={"X-CSRF-Token": self.csrf},
        )
        assert upload.status_code == 201, upload.text
        response = self.http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={
                "body": body,
                "client_msg_id": secrets.token_hex(8),
                "attachment_ids": [upload.json()["id"]],
            },
            headers={"X-CSRF-Token": self.csrf},
        )
        assert response.status_code == 201, response.text
        message: dict[str, Any] = response.json()
        return message

    def typing(self, conversation_id: str) -> None:
        response = self.http.post(
            f"/api/v1/conversations/{conversation_id}/typing",
            json={},
            headers={"X-CSRF-Token": self.csrf},
        )
        assert response.status_code == 204, response.text

    def close(self) -> None:
        self.http.close()


@dataclass
class Page:
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class HostServer:
    """A second origin (another port on loopback) serving host pages that embed the widget."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = pages.get(self.path.split("?")[0])
                if page is None:
                    self.send_error(404)
                    return
                data = page.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, path: str, body: str, headers: dict[str, str] | None = None) -> str:
        self.pages[path] = Page(body, headers or {})
        return self.url + path

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def open_widget(page: BrowserPage) -> FrameLocator:
    """Click the launcher on the host page; the chat's frame."""
    page.get_by_role("button", name="Open chat").click()
    return page.frame_locator("iframe[title=Chat]")
