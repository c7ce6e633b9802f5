"""Tokens: server-minted, >= 128 bits, stored only as hashes, refused in every near-miss
form; identity JWTs refused unless HS256, signed with this site's secret and short-lived."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from chatdesk.db.tables import metadata
from chatdesk.ids import hash_token
from chatdesk.settings import Settings
from tests.factories import bearer, visitor_token
from tests.security.arena import Arena, build_arena

SHAPE = {
    "cdv_": re.compile(r"^cdv_[A-Za-z0-9_-]{43}$"),
    "cds_": re.compile(r"^cds_[A-Za-z0-9_-]{43}$"),
    "cdk_": re.compile(r"^cdk_[A-Za-z0-9_-]{43}$"),
}


@pytest.fixture
def arena(client: TestClient) -> Arena:
    return build_arena(client)


def _entropy_bits(tokens: list[str], prefix: str) -> float:
    """Bits carried by the random part: 6 per base64url character, all of them used."""
    bodies = [t.removeprefix(prefix) for t in tokens]
    alphabet = set("".join(bodies))
    # 43 base64url characters carry 256 bits only if the whole alphabet is in use.
    assert len(alphabet) >= 60, alphabet
    return min(len(b) for b in bodies) * 6


def _mint(arena: Arena) -> dict[str, list[str]]:
    client = arena.client
    visitors = [visitor_token(client, arena.site1["site_key"]) for _ in range(40)]
    sessions = []
    for _ in range(5):
        response = client.post(
            "/api/v1/auth/login",
            json={"email": arena.agent1.email, "password": arena.agent1.password},
        )
        assert response.status_code == 200
        sessions.append(response.cookies["chatdesk_session"])
        client.cookies.clear()
    sessions += [arena.session(arena.agent1).headers["Cookie"].split("=", 1)[1] for _ in range(35)]
    keys = [arena.api_token("own", "agent")[1] for _ in range(40)]
    return {"cdv_": visitors, "cds_": sessions, "cdk_": keys}


def test_tokens_are_server_minted_long_random_and_stored_only_as_hashes(
    arena: Arena, settings: Settings
) -> None:
    minted = _mint(arena)
    everything = [t for tokens in minted.values() for t in tokens]
    assert len(set(everything)) == len(everything) == 120
    for prefix, tokens in minted.items():
        assert all(SHAPE[prefix].match(t) for t in tokens), prefix
        assert _entropy_bits(tokens, prefix) >= 128
    # No column of any table holds a raw token (or its random part); lookups go by hash.
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            dump = "\n".join(
                repr(tuple(row)) for table in metadata.sorted_tables for row in conn.execute(
                    select(table)
                )
            )  # fmt: skip
    finally:
        engine.dispose()
    for token in everything:
        assert token[4:] not in dump
        # What is stored is the SHA-256, so lookups can only go by hash.
        assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
        assert hash_token(token) in dump
    # The arena's own principals too.
    for principal in arena.principals.values():
        for value in principal.headers.values():
            secret = value.split("=", 1)[-1].removeprefix("Bearer ")
            if secret.startswith(("cdv_", "cds_", "cdk_")):
                assert secret[4:] not in dump


def test_a_client_cannot_choose_its_token(arena: Arena) -> None:
    chosen = "cdv_" + "A" * 43
    for body in (
        {"site_key": arena.site1["site_key"], "visitor_token": chosen},
        {"site_key": arena.site1["site_key"], "token": chosen},
    ):
        assert arena.client.post("/api/v1/widget/sessions", json=body).status_code == 422
    made = arena.client.post("/api/v1/widget/sessions", json={"site_key": arena.site1["site_key"]})
    assert made.json()["visitor_token"] != chosen
    # A session cookie the client made up is not adopted at login (no session fixation).
    arena.client.cookies.set("chatdesk_session", "cds_" + "B" * 43)
    login = arena.client.post(
        "/api/v1/auth/login", json={"email": arena.agent1.email, "password": arena.agent1.password}
    )
    assert login.cookies["chatdesk_session"] != "cds_" + "B" * 43
    arena.client.cookies.clear()


def _near_misses(real: str, other_kind: str) -> list[str]:
    changed = real[:10] + ("A" if real[10] != "A" else "B") + real[11:]
    return [
        "0",
        '"0"',
        "true",
        "false",
        "[]",
        "{}",
        "null",
        "undefined",
        "0e1",
        "0e0",
        "''",
        real[:4],
        real[:4] + "0",
        changed,
        real + "x",
        real + "=",
        real[:-1],
        real.upper(),
        real.lower(),
        other_kind,
        f'["{real}"]',
        f"{real},{real}",
        f"{real} {real}",
        real.replace("_", "%5F", 1),
        base64.b64encode(real.encode()).decode(),
        hash_token(real),
    ]


def _assert_401(response: Any) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"]["code"] == "unauthorized"
    assert set(body["error"]) == {"code", "message", "details"}


def test_near_miss_visitor_tokens_are_refused(arena: Arena) -> None:
    client = arena.client
    real = arena.token_a
    assert client.get("/api/v1/widget/visitor", headers=bearer(real)).status_code == 200
    _, api_key = arena.api_token("own", "admin")
    values = [*_near_misses(real, api_key), "cds_" + real[4:], "cdk_" + real[4:]]
    for value in values:
        _assert_401(client.get("/api/v1/widget/visitor", headers=bearer(value)))
    for header in ("", "Bearer", "Bearer ", "Basic " + real, real, "Token " + real, "Bearer  "):
        _assert_401(client.get("/api/v1/widget/visitor", headers={"Authorization": header}))
    # Credentials in the URL are never read.
    for param in ("token", "access_token", "visitor_token", "authorization"):
        _assert_401(client.get(f"/api/v1/widget/visitor?{param}={real}"))
        _assert_401(client.get(f"/api/v1/widget/events?wait=0&{param}={real}"))


def test_near_miss_api_tokens_and_session_cookies_are_refused(arena: Arena) -> None:
    client = arena.client
    _, api_key = arena.api_token("own", "admin")
    assert client.get("/api/v1/auth/me", headers=bearer(api_key)).status_code == 200
    for value in [*_near_misses(api_key, arena.token_a), "cds_" + api_key[4:]]:
        _assert_401(client.get("/api/v1/auth/me", headers=bearer(value)))
    for param in ("token", "access_token", "api_key"):
        _assert_401(client.get(f"/api/v1/auth/me?{param}={api_key}"))
    cookie = arena.principals["ag1"].headers["Cookie"].split("=", 1)[1]
    assert client.get(
        "/api/v1/auth/me", headers={"Cookie": f"chatdesk_session={cookie}"}
    ).is_success
    for value in [*_near_misses(cookie, api_key), "cdv_" + cookie[4:], '""']:
        response = client.get("/api/v1/auth/me", headers={"Cookie": f"chatdesk_session={value}"})
        _assert_401(response)
    # A session id is a cookie, never a bearer token, and vice versa.
    _assert_401(client.get("/api/v1/auth/me", headers=bearer(cookie)))
    _assert_401(client.get("/api/v1/auth/me", headers={"Cookie": f"chatdesk_session={api_key}"}))


def test_duplicated_authorization_headers_are_refused(arena: Arena) -> None:
    client = arena.client
    real, other = arena.token_a, arena.token_b
    for first, second in [(real, "0"), ("0", real), (real, real), (real, other)]:
        response = client.get(
            "/api/v1/widget/visitor",
            headers=[("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {second}")],
        )
        _assert_401(response)
    _, key = arena.api_token("own", "admin")
    response = client.get(
        "/api/v1/auth/me",
        headers=[("Authorization", f"Bearer {key}"), ("Authorization", "Bearer 0")],
    )
    _assert_401(response)


# -- identity tokens -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs(header: dict[str, Any], claims: dict[str, Any], secret: str, digest: Any) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return signing_input + "." + _b64(signature)


def _flip(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[5] ^= 0x01
    return f"{head}.{body}.{_b64(bytes(raw))}"


def test_identity_tokens(arena: Arena) -> None:
    client = arena.client
    site = arena.call("GET", f"/api/v1/sites/{arena.site1['id']}", "own").json()
    other = arena.call("GET", f"/api/v1/sites/{arena.site2['id']}", "own").json()
    secret, other_secret = site["identity_secret"], other["identity_secret"]
    assert secret and other_secret and secret != other_secret
    now = int(time.time())
    good = {"sub": "user-42", "exp": now + 600, "name": "Known User"}

    def session(token: str) -> Any:
        return client.post(
            "/api/v1/widget/sessions",
            json={"site_key": site["site_key"], "identity_token": token},
        )

    valid = jwt.encode(good, secret, algorithm="HS256")
    first, second = session(valid), session(jwt.encode(good, secret, algorithm="HS256"))
    assert first.status_code == second.status_code == 201
    assert first.json()["visitor"]["id"] == second.json()["visitor"]["id"]
    assert first.json()["visitor"]["name"] == "Known User"
    assert first.json()["visitor_token"] != second.json()["visitor_token"]

    bad = {
        "alg none": _b64(b'{"alg":"none","typ":"JWT"}')
        + "."
        + _b64(json.dumps(good).encode())
        + ".",
        "alg None": _b64(b'{"alg":"None"}') + "." + _b64(json.dumps(good).encode()) + ".",
        "HS512": _hs({"alg": "HS512", "typ": "JWT"}, good, secret, hashlib.sha512),
        "HS384": _hs({"alg": "HS384", "typ": "JWT"}, good, secret, hashlib.sha384),
        "RS256 header, HMAC signature": _hs({"alg": "RS256"}, good, secret, hashlib.sha256),
        "flipped signature byte": _flip(valid),
        "no signature": valid.rsplit(".", 1)[0] + ".",
        "expired": jwt.encode({**good, "exp": now - 3600}, secret, algorithm="HS256"),
        "no exp": jwt.encode({"sub": "user-42"}, secret, algorithm="HS256"),
        "no sub": jwt.encode({"exp": now + 600}, secret, algorithm="HS256"),
        "empty sub": jwt.encode({**good, "sub": ""}, secret, algorithm="HS256"),
        "exp over a day ahead": jwt.encode(
            {**good, "exp": now + 2 * 86400}, secret, algorithm="HS256"
        ),
        "other site's secret": jwt.encode(good, other_secret, algorithm="HS256"),
        "numeric sub": jwt.encode({**good, "sub": 42}, secret, algorithm="HS256"),
        "object sub": jwt.encode({**good, "sub": {"id": 1}}, secret, algorithm="HS256"),
        "string exp": jwt.encode({**good, "exp": "tomorrow"}, secret, algorithm="HS256"),
        "not before in future": jwt.encode({**good, "nbf": now + 3600}, secret, algorithm="HS256"),
        "garbage": "not.a.jwt",
        "empty secret": _hs({"alg": "HS256", "typ": "JWT"}, good, "", hashlib.sha256),
    }
    for name, token in bad.items():
        response = session(token)
        assert response.status_code == 403, (name, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    # A rotated secret stops the old tokens at once.
    rotated = arena.call(
        "PATCH", f"/api/v1/sites/{site['id']}", "own", json={"rotate_identity_secret": True}
    )
    assert rotated.status_code == 200
    assert session(valid).status_code == 403
    new_secret = rotated.json()["identity_secret"]
    again = session(jwt.encode(good, new_secret, algorithm="HS256"))
    assert again.json()["visitor"]["id"] == first.json()["visitor"]["id"]


def test_identity_required_sites_refuse_anonymous_visitors(arena: Arena) -> None:
    site_id = arena.site1["id"]
    patched = arena.call(
        "PATCH", f"/api/v1/sites/{site_id}", "own", json={"identity_required": True}
    )
    assert patched.status_code == 200
    response = arena.client.post(
        "/api/v1/widget/sessions", json={"site_key": arena.site1["site_key"]}
    )
    assert response.status_code == 403


def test_credentials_of_the_wrong_json_type_are_refused(arena: Arena) -> None:
    client = arena.client
    key = arena.site1["site_key"]
    for value in (0, "0", True, [], [key], {"$ne": ""}, None, "0e1", "", 1e300):
        response = client.post("/api/v1/widget/sessions", json={"site_key": value})
        assert response.status_code in (400, 404, 422), (value, response.text)
        assert "visitor_token" not in response.text
        if value is None:
            continue  # no identity token at all: an anonymous visitor, by design
        response = client.post(
            "/api/v1/widget/sessions", json={"site_key": key, "identity_token": value}
        )
        assert response.status_code in (400, 403, 422), (value, response.text)
        assert "visitor_token" not in response.text
    for value in (0, True, [], ["x"], None, {"a": 1}):
        response = client.post(
            "/api/v1/auth/login", json={"email": arena.agent1.email, "password": value}
        )
        assert response.status_code == 422, (value, response.text)
        assert "csrf_token" not in response.text
