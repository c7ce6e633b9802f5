"""The single sign-on routes (outside /api/, so outside the OpenAPI-driven tables):
public by design, and nothing a stranger sends them signs anyone in, reaches a 500 or
echoes into the page. Generated query strings and cookies against the app with a real
provider on loopback (tests/auth/oidc_provider.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chatdesk.app import create_app
from chatdesk.settings import Settings
from chatdesk.web.oidc_api import SSO_MESSAGES
from tests.auth.oidc_provider import Provider, running_provider, with_sso
from tests.auth.test_oidc import sso_sign_in
from tests.factories import add_operator, services_db

TEXT = st.text(min_size=0, max_size=200)
PARAMS = st.dictionaries(st.sampled_from(["code", "state", "error", "next", "iss"]), TEXT)


provider_fixture = pytest.fixture(running_provider, name="provider")


def generated(examples: int) -> Any:
    """Hypothesis's settings for these tests: fixed examples, no deadline (each example
    is a real HTTP exchange), the function-scoped app shared by the examples."""
    return hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture
def sso(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(with_sso(settings, provider))) as client:
        provider.user["email"] = add_operator(services_db(client), "owner").email
        yield client


COOKIE = st.from_regex(r"[A-Za-z0-9._-]{0,300}", fullmatch=True)


@given(params=PARAMS, cookie=st.one_of(st.none(), COOKIE))
@generated(60)
def test_generated_callbacks_never_sign_in_nor_fail(
    sso: TestClient, params: dict[str, str], cookie: str | None
) -> None:
    sso.cookies.clear()
    if cookie is not None:
        sso.cookies.set("chatdesk_oidc", cookie, path="/auth/oidc")
    answer = sso.get("/auth/oidc/callback?" + urlencode(params), follow_redirects=False)
    if any("\x00" in value for value in params.values()):  # the edge refuses these
        assert answer.json()["error"]["code"] == "bad_request"
        return
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/admin/login?sso=")
    reason = location.removeprefix("/admin/login?sso=").split("&", 1)[0]
    assert reason in SSO_MESSAGES
    assert "chatdesk_session" not in sso.cookies
    assert sso.get("/api/v1/auth/me").status_code == 401


@given(next_url=TEXT)
@generated(40)
def test_generated_starts_go_only_to_the_issuer(
    sso: TestClient, provider: Provider, next_url: str
) -> None:
    answer = sso.get("/auth/oidc/login", params={"next": next_url}, follow_redirects=False)
    if "\x00" in next_url:  # the edge refuses these
        assert answer.json()["error"]["code"] == "bad_request"
        return
    assert answer.status_code == 302, answer.text
    assert answer.headers["location"].startswith(provider.url + "/authorize?")


def test_the_routes_answer_the_same_whoever_asks(sso: TestClient) -> None:
    """A signed-in operator starting again gets a new flow (no shortcut, no error), and
    any method but GET (and HEAD) is not served."""
    assert sso.get("/auth/oidc/login", follow_redirects=False).status_code == 302
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/auth/oidc/login", "/auth/oidc/callback"):
            assert sso.request(method, path).status_code == 405, (method, path)


BODY = st.one_of(
    st.binary(max_size=400),
    st.dictionaries(st.sampled_from(["logout_token", "sub", "sid", "x"]), TEXT).map(
        lambda fields: urlencode(fields).encode()
    ),
    st.from_regex(r"logout_token=[A-Za-z0-9_.-]{0,400}", fullmatch=True).map(str.encode),
    # A JWS's shape around generated headers and claims (base64url of generated JSON).
    st.tuples(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.sampled_from(["alg", "RS256", "none"]),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(["alg", "kid", "typ"]), inner, max_size=3)
            ),
            max_leaves=6,
        ),
        st.dictionaries(st.sampled_from(["iss", "sub", "sid", "events", "iat"]), TEXT),
    ).map(
        lambda parts: (
            "logout_token="
            + ".".join(
                base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
                for part in parts
            )
            + ".c2ln"
        ).encode()
    ),
)
KIND = st.sampled_from(
    ["application/x-www-form-urlencoded", "application/json", "text/plain", "", "multipart/x"]
)


@pytest.fixture
def signed_in(sso: TestClient) -> TestClient:
    """``sso`` with its owner signed in by single sign-on: what a logout would end."""
    sso.cookies.clear()
    assert sso_sign_in(sso).status_code == 303
    assert sso.get("/api/v1/auth/me").status_code == 200
    return sso


@given(body=BODY, kind=KIND)
@generated(60)
def test_generated_logout_requests_are_refused_with_a_clear_400(
    signed_in: TestClient, body: bytes, kind: str
) -> None:
    """Nothing but a token the provider signed logs anyone out: every generated body
    gets a JSON 400 (never a 500), and the signed-in session stays."""
    headers = {"Content-Type": kind} if kind else {}
    answer = signed_in.post("/auth/oidc/backchannel-logout", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] in {"bad_request", "logout_token_invalid"}
    assert signed_in.get("/api/v1/auth/me").status_code == 200


def test_the_logout_route_takes_only_post(sso: TestClient) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        answer = sso.request(method, "/auth/oidc/backchannel-logout")
        assert answer.status_code == 405, method
