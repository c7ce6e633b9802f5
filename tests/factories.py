"""Test data made through the real HTTP API and the real actions (no shortcuts)."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from chatdesk.actions.operators import create_operator
from chatdesk.db.runner import Database
from chatdesk.security.passwords import hash_password

Client = TestClient | httpx.Client
_counter = itertools.count(1)
# The smallest PDF a viewer opens: an attachment that is not an image.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


class FakeClock:
    """The time the app (``create_app(settings, clock=clock)``) or the database sees,
    moved by the test only: ``clock.now = ...`` or ``clock.advance(seconds)``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Operator:
    id: str
    email: str
    password: str
    role: str
    csrf_token: str | None = None


def add_operator(
    db: Database, role: str = "agent", *, email: str | None = None, name: str = "Op"
) -> Operator:
    """An operator created by the real action (as the CLI does)."""
    email = email or f"{role}{next(_counter)}-{secrets.token_hex(3)}@example.com"
    password = "pw-" + secrets.token_urlsafe(12)
    hashed = hash_password(password)
    shape = db.write_sync(
        create_operator, None, email=email, name=name, role=role, password_hash=hashed
    )
    return Operator(shape["id"], email, password, role)


def services_db(client: TestClient) -> Database:
    db: Database = client.app.state.services.db  # type: ignore[attr-defined]
    return db


def login(client: Client, operator: Operator) -> Operator:
    response = client.post(
        "/api/v1/auth/login", json={"email": operator.email, "password": operator.password}
    )
    assert response.status_code == 200, response.text
    operator.csrf_token = response.json()["csrf_token"]
    return operator


def csrf(operator: Operator) -> dict[str, str]:
    assert operator.csrf_token
    return {"X-CSRF-Token": operator.csrf_token}


def create_site(client: Client, admin: Operator, **fields: Any) -> dict[str, Any]:
    body = {"name": "Shop", "allowed_origins": ["https://shop.example.com"], **fields}
    response = client.post("/api/v1/sites", json=body, headers=csrf(admin))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def visitor_token(client: Client, site_key: str, **profile: Any) -> str:
    response = client.post("/api/v1/widget/sessions", json={"site_key": site_key, **profile})
    assert response.status_code == 201, response.text
    token: str = response.json()["visitor_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start_conversation(
    client: Client, token: str, body: str = "Hello", client_msg_id: str | None = None
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/widget/conversations",
        json={"body": body, "client_msg_id": client_msg_id or secrets.token_hex(8)},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@dataclass
class World:
    """An owner signed in, one site, and a visitor with a conversation."""

    owner: Operator
    site: dict[str, Any]
    visitor_token: str
    conversation: dict[str, Any]


def make_world(client: TestClient) -> World:
    db = services_db(client)
    owner = login(client, add_operator(db, "owner"))
    site = create_site(client, owner)
    token = visitor_token(client, site["site_key"], name="Vera Visitor")
    started = start_conversation(client, token)
    return World(owner, site, token, started["conversation"])
