"""CSRF: every unsafe cookie-authenticated route needs the session's X-CSRF-Token and, when
the browser sends one, a same-origin Origin; API tokens need neither. Cookie attributes."""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.factories import add_operator, services_db
from tests.security.arena import (
    BUILDERS,
    PUBLIC_OR_VISITOR,
    UNSAFE,
    Arena,
    Principal,
    api_routes,
    build_arena,
)
from tests.security.test_idor import EXPECTED, PRINCIPALS

COOKIE_ROUTES = sorted(key for key in BUILDERS if key[0] in UNSAFE and key not in PUBLIC_OR_VISITOR)


def _success(key: tuple[str, str], who: str) -> int:
    return int(EXPECTED[key].split()[PRINCIPALS.index(who)])


@pytest.fixture
def arena(client: TestClient) -> Arena:
    return build_arena(client)


def test_the_unsafe_route_list_is_complete(client: TestClient) -> None:
    unsafe = {key for key in api_routes(client.app) if key[0] in UNSAFE}  # type: ignore[arg-type]
    assert unsafe - PUBLIC_OR_VISITOR == set(COOKIE_ROUTES)
    assert len(COOKIE_ROUTES) >= 14


def test_unsafe_cookie_requests_need_the_token_and_a_same_origin(arena: Arena) -> None:
    owner = arena.principals["own"]
    other_csrf = arena.principals["adm"].headers["X-CSRF-Token"]
    cookie_only = {"Cookie": owner.headers["Cookie"]}
    failures = []
    for key in COOKIE_ROUTES:
        method = key[0]
        refusals = {
            "no token": {},
            "empty token": {"X-CSRF-Token": ""},
            "wrong token": {"X-CSRF-Token": owner.headers["X-CSRF-Token"][:-2] + "xx"},
            "another session's token": {"X-CSRF-Token": other_csrf},
            "token in another header": {"X-XSRF-Token": owner.headers["X-CSRF-Token"]},
            "foreign origin": {**owner.headers, "Origin": "https://evil.example"},
            "null origin": {**owner.headers, "Origin": "null"},
            "lookalike origin": {**owner.headers, "Origin": "http://testserver.evil.example"},
            "other port": {**owner.headers, "Origin": "http://testserver:8080"},
        }
        for name, headers in refusals.items():
            path, body = BUILDERS[key](arena, "own")
            extra = headers if "Cookie" in headers else {**cookie_only, **headers}
            response = arena.call(method, path, Principal("raw", extra), json=body)
            if response.status_code != 403 or response.json()["error"]["code"] != "forbidden":
                failures.append(f"{name}: {method} {path} -> {response.status_code}")
        # The right token with the same Origin (or none, as non-browser clients) passes.
        for origin in ({"Origin": "http://testserver"}, {}):
            who = arena.session(arena.owner) if key[1] == "/api/v1/auth/logout" else owner
            path, body = BUILDERS[key](arena, "own")
            response = arena.call(method, path, who, json=body, headers=origin)
            if response.status_code != _success(key, "own"):
                failures.append(f"allowed {origin}: {method} {path} -> {response.status_code}")
    assert not failures, "\n".join(failures)
    # Nothing the refused requests asked for happened: the owner is still signed in.
    assert arena.call("GET", "/api/v1/auth/me", "own").status_code == 200


def test_api_tokens_need_no_csrf_token_and_cookies_do_not_ride_along(arena: Arena) -> None:
    for key in COOKIE_ROUTES:
        expected = _success(key, "tadm")
        path, body = BUILDERS[key](arena, "tadm")
        response = arena.call(key[0], path, "tadm", json=body, headers={"Origin": "https://x.y"})
        assert response.status_code == expected, (key, response.text)
    # A bad bearer token is refused even with a valid session cookie alongside it.
    response = arena.call(
        "POST",
        "/api/v1/canned-responses",
        Principal("mixed", {**arena.principals["own"].headers, "Authorization": "Bearer cdk_x"}),
        json={"shortcut": "mixed", "body": "x"},
    )
    assert response.status_code == 401


def test_login_cannot_be_forged_by_a_cross_site_form(client: TestClient) -> None:
    operator = add_operator(services_db(client), "agent")
    body = f'{{"email": "{operator.email}", "password": "{operator.password}"}}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = client.post(
            "/api/v1/auth/login", content=body, headers={"Content-Type": content_type}
        )
        assert 400 <= response.status_code < 500, (content_type, response.status_code)
        assert "chatdesk_session" not in response.headers.get("set-cookie", "")
        assert response.json()["error"]["code"]


def _session_cookie(client: TestClient) -> SimpleCookie:
    operator = add_operator(services_db(client), "agent")
    response = client.post(
        "/api/v1/auth/login", json={"email": operator.email, "password": operator.password}
    )
    assert response.status_code == 200
    (header,) = [
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and "chatdesk_session" in v
    ]
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    return cookie


def test_session_cookie_attributes(client: TestClient) -> None:
    morsel = _session_cookie(client)["chatdesk_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]
    assert not morsel["domain"]
    assert morsel.value.startswith("cds_")


def test_session_cookie_is_secure_in_production(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "env": "production",
            "secret_key": "x" * 48,
            "rate_limits": "on",
            "database_url": f"sqlite:///{tmp_path / 'prod.db'}",
        }
    )
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        morsel = _session_cookie(client)["chatdesk_session"]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
