"""Assertions shared by the API tests: the error envelope of API.md, and a few builders."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.factories import Client, Operator, add_operator, bearer, csrf, login, services_db

__all__ = ["assert_error", "new_agent", "send_visitor", "signed_in_as"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``response`` is the API.md error envelope with this status and code; returns ``error``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    return error


def signed_in_as(client: Any, role: str, **fields: Any) -> Operator:
    """A new operator of ``role``, signed in on ``client`` (replacing its session cookie)."""
    return login(client, add_operator(services_db(client), role, **fields))


def new_agent(client: Any, admin: Operator, site_ids: list[str] | None) -> Operator:
    """An agent created over the API by ``admin`` (``site_ids=[]``: member of no site)."""
    password = "pw-" + secrets.token_urlsafe(12)
    email = f"agent-{secrets.token_hex(4)}@example.com"
    body: dict[str, Any] = {"email": email, "name": "Agent", "role": "agent", "password": password}
    if site_ids is not None:
        body["site_ids"] = site_ids
    response = client.post("/api/v1/operators", json=body, headers=csrf(admin))
    assert response.status_code == 201, response.text
    return Operator(response.json()["id"], email, password, "agent")


def send_visitor(
    client: Client, token: str, conversation_id: str, body: str, client_msg_id: str | None = None
) -> httpx.Response:
    return client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"body": body, "client_msg_id": client_msg_id or secrets.token_hex(8)},
        headers=bearer(token),
    )
