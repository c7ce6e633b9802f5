"""Property-based fuzzing of every operation in /openapi.json with schemathesis, as a
visitor and as an operator, with valid and invalid inputs: no 5xx, responses match what
the schema declares, and no protected operation answers 2xx to a request without
credentials.

Bounded: a few examples per operation, generation only (no shrinking database), well
under a minute on SQLite.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.security.arena import Arena, build_arena

EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),  # refused by address or token, never by a session
    ("GET", "/api/v1/widget/config"),
    ("POST", "/api/v1/widget/sessions"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/auth/passkeys/login/options"),
    ("POST", "/api/v1/auth/passkeys/login"),
    ("GET", "/avatars/{operator_id}"),  # an operator's face, shown to visitors
}
# Operations that would end the principal's session or lock the arena out of itself
# (deleting the arena's site 1 takes its visitors with it).
SKIP_AS_OPERATOR = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password"),
    ("DELETE", "/api/v1/sites/{site_id}"),
}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": {**{k: str(v) for k, v in (kwargs.get("headers") or {}).items()}, **headers},
        "params": kwargs.get("params") or None,
    }
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    try:
        return client.request(**request)
    finally:
        client.cookies.clear()


def _fill_ids(case: Any, arena: Arena) -> None:
    """Point some generated path ids at real rows so deeper code paths run too."""
    params = case.path_parameters or {}
    real = {
        "conversation_id": arena.conv_a["id"],
        "site_id": arena.site1["id"],
        "operator_id": arena.dummy.id,
    }
    for name in list(params):
        if name in real and len(str(params[name])) % 2 == 0:
            params[name] = real[name]


def _fuzz(arena: Arena, operation: Any, who: str) -> None:
    for mode, examples in EXAMPLES.items():
        _fuzz_mode(arena, operation, who, mode, examples)


def _fuzz_mode(arena: Arena, operation: Any, who: str, mode: GenerationMode, examples: int) -> None:
    client = arena.client
    key = (operation.method.upper(), operation.path)
    protected = key not in PUBLIC

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        _fill_ids(case, arena)
        response = _send(client, case, arena.principals[who].headers)
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            assert response.json()["error"]["code"], response.text
        if protected:
            anonymous = _send(client, case, {})
            case.validate_response(anonymous, checks=CHECKS)
            assert not anonymous.is_success, f"{key} answered {anonymous.status_code} to nobody"

    try:
        run()
    except Unsatisfiable:
        # Nothing to make invalid (no parameters, no body): the positive run covered it.
        assert mode is GenerationMode.NEGATIVE


@pytest.fixture
def arena(client: TestClient) -> Arena:
    return build_arena(client)


def test_fuzz_every_operation_as_visitor_and_operator(arena: Arena) -> None:
    schema = schemathesis.openapi.from_dict(arena.client.get("/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        if re.match(r"^/api/v1/widget/", operation.path) or key in PUBLIC:
            _fuzz(arena, operation, "va")
        if not operation.path.startswith("/api/v1/widget/") and key not in SKIP_AS_OPERATOR:
            _fuzz(arena, operation, "own")
    # The fuzzing did not sign the arena out or break it.
    assert arena.call("GET", "/api/v1/auth/me", "own").status_code == 200
    assert arena.call("GET", "/api/v1/widget/visitor", "va").status_code == 200
