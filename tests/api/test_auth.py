"""Operator sign-in: login, logout, me, the session cookie, CSRF and Origin checks."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.api.world import PASSWORD, api_world, quick_operator
from tests.factories import csrf, login


def _set_cookie(response: object) -> str:
    headers = response.headers  # type: ignore[attr-defined]
    cookies = [v for k, v in headers.multi_items() if k == "set-cookie"]
    assert len(cookies) == 1, cookies
    return str(cookies[0])


def test_login_me_logout(client: TestClient) -> None:
    owner = quick_operator(client, "owner", name="Olga")
    response = client.post(
        "/api/v1/auth/login", json={"email": owner.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"operator", "csrf_token"}
    assert body["operator"]["id"] == owner.id and body["operator"]["role"] == "owner"
    assert PASSWORD not in response.text and "password_hash" not in response.text
    assert "argon2" not in response.text
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json() == {"operator": body["operator"], "csrf_token": body["csrf_token"]}

    owner.csrf_token = body["csrf_token"]
    out = client.post("/api/v1/auth/logout", headers=csrf(owner))
    assert out.status_code == 204
    assert "chatdesk_session=" in _set_cookie(out)
    assert_error(client.get("/api/v1/auth/me"), 401, "unauthorized")


def test_session_cookie_attributes(client: TestClient) -> None:
    owner = quick_operator(client, "owner")
    response = client.post("/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    cookie = _set_cookie(response).lower()
    assert cookie.startswith("chatdesk_session=cds_")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie
    assert response.json()["csrf_token"] not in cookie


def test_session_cookie_is_secure_in_production(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        env="production",
        secret_key=secrets.token_urlsafe(48)[:48],
        database_url=database_url,
        redis_url=None,
        log_format="json",
        rate_limits="on",
    )
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as client:
        owner = quick_operator(client, "owner")
        response = client.post(
            "/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        cookie = _set_cookie(response).lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "max-age=63072000" in response.headers["strict-transport-security"]


def test_production_refuses_a_sample_secret(database_url: str) -> None:
    settings = Settings(env="production", database_url=database_url, secret_key="change-me")
    with pytest.raises(SystemExit, match="CHATDESK_SECRET_KEY"):
        create_app(settings)


def test_wrong_password_and_unknown_email_look_the_same(client: TestClient) -> None:
    owner = quick_operator(client, "owner")
    inactive = quick_operator(client, "agent")
    world_token = api_world(client).token
    client.patch(
        f"/api/v1/operators/{inactive.id}",
        json={"active": False},
        headers={"Authorization": f"Bearer {world_token}"},
    )
    attempts = [
        {"email": owner.email, "password": PASSWORD + "x"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": inactive.email, "password": PASSWORD},
        {"email": "' OR 1=1 --", "password": "' OR 1=1 --"},
    ]
    responses = [client.post("/api/v1/auth/login", json=body) for body in attempts]
    for response in responses:
        assert_error(response, 401, "unauthorized")
        assert "set-cookie" not in response.headers
    assert len({r.content for r in responses}) == 1


def test_session_changes_on_every_login(client: TestClient) -> None:
    owner = quick_operator(client, "owner")
    seen = set()
    csrf_tokens = set()
    for _ in range(2):
        response = client.post(
            "/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD}
        )
        seen.add(client.cookies["chatdesk_session"])
        csrf_tokens.add(response.json()["csrf_token"])
    assert len(seen) == 2 and len(csrf_tokens) == 2
    # A cookie planted before sign-in (session fixation) is not the one you get.
    planted = "cds_" + "a" * 43
    client.cookies.clear()
    response = client.post(
        "/api/v1/auth/login",
        json={"email": owner.email, "password": PASSWORD},
        headers={"Cookie": f"chatdesk_session={planted}"},
    )
    assert response.status_code == 200
    assert planted not in _set_cookie(response)
    assert client.cookies["chatdesk_session"] not in seen


def test_logout_revokes_the_session_server_side(client: TestClient) -> None:
    owner = login(client, quick_operator(client, "owner"))
    stolen = client.cookies["chatdesk_session"]
    client.cookies.clear()
    client.cookies.set("chatdesk_session", stolen)  # a copy kept by someone else
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout", headers=csrf(owner)).status_code == 204
    client.cookies.set("chatdesk_session", stolen)
    assert_error(client.get("/api/v1/auth/me"), 401, "unauthorized")
    assert_error(client.get("/api/v1/conversations"), 401, "unauthorized")


def test_csrf_is_required_on_cookie_writes(client: TestClient) -> None:
    world = api_world(client)
    owner = login(client, world.owner)
    cid = world.conversation["id"]
    writes = [
        ("POST", f"/api/v1/conversations/{cid}/messages", {"body": "x", "client_msg_id": "c1"}),
        ("PATCH", f"/api/v1/conversations/{cid}", {"status": "pending"}),
        ("POST", f"/api/v1/conversations/{cid}/read", None),
        ("POST", f"/api/v1/conversations/{cid}/typing", None),
        ("POST", "/api/v1/sites", {"name": "S"}),
        ("POST", "/api/v1/canned-responses", {"shortcut": "hi", "body": "b"}),
        ("POST", "/api/v1/api-tokens", {"name": "t"}),
        ("DELETE", "/api/v1/api-tokens/01unknown", None),
        ("POST", "/api/v1/auth/logout", None),
    ]
    foreign = {"X-CSRF-Token": owner.csrf_token or "", "Origin": "https://evil.example"}
    for method, path, body in writes:
        for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}, foreign):
            response = client.request(method, path, json=body, headers=headers)
            assert_error(response, 403, "forbidden")
    # Nothing happened.
    got = client.get(f"/api/v1/conversations/{cid}").json()
    assert got["status"] == "open"
    messages = client.get(f"/api/v1/conversations/{cid}/messages").json()["messages"]
    assert [m["body"] for m in messages] == ["Hello"]
    assert client.get("/api/v1/auth/me").status_code == 200  # still signed in
    # The right token, with a same-origin or no Origin, works.
    same_origin = {**csrf(owner), "Origin": "http://testserver"}
    ok = client.patch(
        f"/api/v1/conversations/{cid}", json={"status": "pending"}, headers=same_origin
    )
    assert ok.status_code == 200
    # Reads need no token.
    assert client.get("/api/v1/conversations").status_code == 200


def test_api_tokens_need_no_csrf(client: TestClient) -> None:
    world = api_world(client)
    client.cookies.clear()
    cid = world.conversation["id"]
    response = client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"body": "via token", "client_msg_id": "t1"},
        headers={**world.op, "Origin": "https://integration.example"},
    )
    assert response.status_code == 201, response.text


def test_login_bad_inputs(client: TestClient) -> None:
    for body in (
        {},
        {"email": "a@b.co"},
        {"password": "x"},
        {"email": "", "password": "x"},
        {"email": "a@b.co", "password": ""},
        {"email": ["a@b.co"], "password": "x"},
        {"email": "a@b.co", "password": 12345678901},
        {"email": "a@b.co", "password": "p" * 1001},
        {"email": "a@b.co", "password": "x", "remember": True},
    ):
        assert_error(client.post("/api/v1/auth/login", json=body), 422, "validation_error")
