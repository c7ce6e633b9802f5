"""Quick test worlds for the API suite, built with the real actions and the real API.

Argon2 costs ~0.3 s per hash or check here, so operators share one password whose
hash is computed once per run, and most tests act through an API token (made by
the real action) rather than signing in. Tests of sign-in itself use ``login``.
"""

from __future__ import annotations

import functools
import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from chatdesk.actions.api_tokens import create_api_token
from chatdesk.actions.operators import create_operator
from chatdesk.security.passwords import hash_password
from chatdesk.security.principals import OperatorActor
from tests.factories import Client, Operator, bearer, services_db, start_conversation, visitor_token

__all__ = ["PASSWORD", "ApiWorld", "api_token", "api_world", "quick_operator"]

PASSWORD = "pw-" + secrets.token_urlsafe(12)
_counter = itertools.count(1)


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def quick_operator(
    client: TestClient,
    role: str = "agent",
    *,
    name: str = "Op",
    site_ids: list[str] | None = None,
) -> Operator:
    """An operator made by the real action, with the shared password ``PASSWORD``."""
    email = f"{role}{next(_counter)}-{secrets.token_hex(3)}@example.com"
    shape = services_db(client).write_sync(
        create_operator,
        None,
        email=email,
        name=name,
        role=role,
        password_hash=_password_hash(),
        site_ids=site_ids,
    )
    return Operator(shape["id"], email, PASSWORD, role)


def api_token(client: TestClient, operator: Operator, role: str | None = None) -> str:
    """A fresh API token of an admin or owner, made by the real action."""
    actor = OperatorActor(operator.id, "Op", operator.email, operator.role, None)
    token, _shape = services_db(client).write_sync(
        create_api_token, actor, "tests", role or "admin"
    )
    return token


@dataclass
class ApiWorld:
    """An owner with an admin-role API token, one site, and a visitor with a conversation.

    API tokens never carry the owner role, so owner-only calls sign the owner in.
    """

    client: TestClient
    owner: Operator
    token: str
    site: dict[str, Any]
    visitor_token: str
    conversation: dict[str, Any]

    @property
    def op(self) -> dict[str, str]:
        """Headers authenticating as the owner (API token: no CSRF needed)."""
        return bearer(self.token)

    @property
    def visitor(self) -> dict[str, str]:
        return bearer(self.visitor_token)


def new_site(http: Client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Shop", "allowed_origins": ["https://shop.example.com"], **fields}
    response = http.post("/api/v1/sites", json=body, headers=headers)
    assert response.status_code == 201, response.text
    site: dict[str, Any] = response.json()
    return site


def api_world(client: TestClient, **site_fields: Any) -> ApiWorld:
    owner = quick_operator(client, "owner", name="Olga Owner")
    token = api_token(client, owner)
    site = new_site(client, bearer(token), **site_fields)
    visitor = visitor_token(client, site["site_key"], name="Vera Visitor")
    started = start_conversation(client, visitor)
    return ApiWorld(client, owner, token, site, visitor, started["conversation"])
