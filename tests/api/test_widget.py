"""The visitor (widget) API: config, sessions, identity tokens, profile, conversations."""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import jwt
from fastapi.testclient import TestClient
from jwt.warnings import InsecureKeyLengthWarning

from tests.api.expect import assert_error, send_visitor
from tests.api.world import ApiWorld, api_world, new_site
from tests.factories import bearer, start_conversation, visitor_token

INJECTIONS = [
    "' OR 1=1 --",
    "<script>alert('x')</script>",
    '"; DROP TABLE messages; --',
    "{{7*7}} ${7*7} %s %n",
    "Robert'); DELETE FROM conversations;--",
    "émoji 😀 and RTL \u202e text",
]


def test_config_of_a_site(client: TestClient) -> None:
    world = api_world(client, greeting="Hello from <b>Shop</b>", accent_color="#112233")
    response = client.get("/api/v1/widget/config", params={"site_key": world.site["site_key"]})
    assert response.status_code == 200
    site = response.json()["site"]
    assert site["name"] == "Shop"
    assert site["greeting"] == "Hello from <b>Shop</b>"
    assert site["accent_color"] == "#112233"
    assert site["position"] == "right"
    assert site["prechat"] == {"name": "optional", "email": "optional"}
    assert site["online"] is True
    assert isinstance(site["offline_message"], str)
    assert "identity_secret" not in json.dumps(response.json())


def test_config_of_unknown_or_disabled_site_is_404(client: TestClient) -> None:
    world = api_world(client)
    for key in ("pk_nope", "' OR 1=1 --", "x" * 64):
        response = client.get("/api/v1/widget/config", params={"site_key": key})
        assert_error(response, 404, "not_found")
    patched = client.patch(
        f"/api/v1/sites/{world.site['id']}", json={"enabled": False}, headers=world.op
    )
    assert patched.status_code == 200
    disabled = client.get("/api/v1/widget/config", params={"site_key": world.site["site_key"]})
    assert_error(disabled, 404, "not_found")
    unknown = client.get("/api/v1/widget/config", params={"site_key": "pk_nope"})
    assert disabled.content == unknown.content
    session = client.post("/api/v1/widget/sessions", json={"site_key": world.site["site_key"]})
    assert_error(session, 404, "not_found")


def test_config_outside_business_hours_is_offline(client: TestClient) -> None:
    # No opening span on any day: closed all week.
    hours = {"timezone": "Pacific/Kiritimati", "days": {}}
    world = api_world(client, business_hours=hours)
    site = client.get("/api/v1/widget/config", params={"site_key": world.site["site_key"]}).json()[
        "site"
    ]
    assert site["online"] is False


def test_session_happy_path_and_profile(client: TestClient) -> None:
    world = api_world(client)
    response = client.post(
        "/api/v1/widget/sessions",
        json={
            "site_key": world.site["site_key"],
            "name": "Ada",
            "email": " Ada@Example.COM ",
            "page_url": "https://shop.example.com/p/1",
            "timezone": "Europe/Paris",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"visitor_token", "visitor"}
    assert body["visitor"]["name"] == "Ada"
    assert body["visitor"]["email"] == "ada@example.com"
    token = body["visitor_token"]
    me = client.get("/api/v1/widget/visitor", headers=bearer(token))
    assert me.json() == body["visitor"]
    patched = client.patch(
        "/api/v1/widget/visitor",
        json={"name": "Ada L.", "email": "ada@l.org"},
        headers=bearer(token),
    )
    assert patched.status_code == 200
    assert patched.json() == {"id": body["visitor"]["id"], "name": "Ada L.", "email": "ada@l.org"}
    assert client.get("/api/v1/widget/visitor", headers=bearer(token)).json()["name"] == "Ada L."
    # Each session gets its own token, a new anonymous visitor each time.
    again = visitor_token(client, world.site["site_key"])
    assert again != token
    other = client.get("/api/v1/widget/visitor", headers=bearer(again)).json()
    assert other["id"] != body["visitor"]["id"] and other["name"] is None


def test_session_bad_inputs(client: TestClient) -> None:
    world = api_world(client)
    key = world.site["site_key"]
    for body in (
        {"site_key": key, "email": "not-an-email"},
        {"site_key": key, "email": "a@b@c"},
        {"site_key": key, "name": ""},
        {"site_key": key, "name": "n" * 201},
        {"site_key": key, "page_url": "u" * 2001},
        {"site_key": key, "identity_token": ""},
        {"site_key": ""},
        {"site_key": None},
        {"site_key": key, "visitor_id": "steal-me"},
    ):
        assert_error(client.post("/api/v1/widget/sessions", json=body), 422, "validation_error")
    for bad in ({"email": "nope"}, {"name": ""}, {"timezone": "t" * 65}, {"id": "x"}):
        response = client.patch("/api/v1/widget/visitor", json=bad, headers=world.visitor)
        assert_error(response, 422, "validation_error")


def test_injection_shaped_strings_are_stored_and_returned_verbatim(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    for index, text in enumerate(INJECTIONS):
        response = send_visitor(client, world.visitor_token, cid, text, f"inj-{index}")
        assert response.status_code == 201, response.text
        assert response.json()["body"] == text
        assert response.headers["content-type"] == "application/json"
    reply = client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"body": INJECTIONS[1], "client_msg_id": "op-inj"},
        headers=world.op,
    )
    assert reply.json()["body"] == INJECTIONS[1]
    seen = client.get(f"/api/v1/widget/conversations/{cid}/messages", headers=world.visitor)
    assert [m["body"] for m in seen.json()["messages"]] == ["Hello", *INJECTIONS, INJECTIONS[1]]
    # Profile fields too, and the operator sees them unchanged.
    name = "<img src=x onerror=alert(1)>' OR '1'='1"
    client.patch("/api/v1/widget/visitor", json={"name": name}, headers=world.visitor)
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()
    assert got["visitor"]["name"] == name
    # Still exactly one conversation and nothing dropped.
    listed = client.get("/api/v1/conversations", headers=world.op).json()["conversations"]
    assert [c["id"] for c in listed] == [cid]


def test_widget_conversations_happy_path(client: TestClient) -> None:
    world = api_world(client)
    first = world.conversation
    assert first["status"] == "open" and first["labels"] == []
    assert "visitor" not in first and "unread_count" not in first
    second = start_conversation(client, world.visitor_token, body="Another question")
    assert second["message"]["body"] == "Another question"
    assert second["message"]["author"]["type"] == "visitor"
    assert second["message"]["author"]["name"] == "Vera Visitor"
    assert second["message"]["private"] is False
    listed = client.get("/api/v1/widget/conversations", headers=world.visitor).json()
    ids = [c["id"] for c in listed["conversations"]]
    assert ids == [second["conversation"]["id"], first["id"]]  # newest activity first
    # Labels set by operators stay internal.
    client.patch(f"/api/v1/conversations/{first['id']}", json={"labels": ["vip"]}, headers=world.op)
    listed = client.get("/api/v1/widget/conversations", headers=world.visitor).json()
    assert all(c["labels"] == [] for c in listed["conversations"])
    typing = client.post(
        f"/api/v1/widget/conversations/{first['id']}/typing", headers=world.visitor
    )
    assert typing.status_code == 204 and typing.content == b""


def test_visitor_message_reopens_a_resolved_conversation(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    client.patch(f"/api/v1/conversations/{cid}", json={"status": "resolved"}, headers=world.op)
    assert send_visitor(client, world.visitor_token, cid, "one more thing").status_code == 201
    assert client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()["status"] == "open"


def test_message_bodies(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    assert send_visitor(client, world.visitor_token, cid, "b" * 10_000).status_code == 201
    for body in ("", "   ", "\n\t", "b" * 10_001):
        response = send_visitor(client, world.visitor_token, cid, body)
        assert_error(response, 422, "validation_error")
    for msg_id in ("has space", "x" * 65, "ü", "a/b", "' OR 1=1 --"):
        response = send_visitor(client, world.visitor_token, cid, "hi", msg_id)
        assert_error(response, 422, "validation_error")


# -- identity tokens -----------------------------------------------------------------


def _identity(world: ApiWorld, claims: dict[str, Any], *, secret: str | None = None) -> str:
    site = world.client.get(f"/api/v1/sites/{world.site['id']}", headers=world.op).json()
    return jwt.encode(claims, secret or site["identity_secret"], algorithm="HS256")


def _session(world: ApiWorld, identity_token: str | None, **profile: Any) -> Any:
    body: dict[str, Any] = {"site_key": world.site["site_key"], **profile}
    if identity_token is not None:
        body["identity_token"] = identity_token
    return world.client.post("/api/v1/widget/sessions", json=body)


def test_identity_token_gives_the_same_visitor_across_sessions(client: TestClient) -> None:
    world = api_world(client)
    claims = {"sub": "user-42", "exp": int(time.time()) + 600, "name": "Grace", "email": "g@h.io"}
    first = _session(world, _identity(world, claims))
    assert first.status_code == 201, first.text
    visitor = first.json()["visitor"]
    assert visitor["name"] == "Grace" and visitor["email"] == "g@h.io"
    started = start_conversation(client, first.json()["visitor_token"], body="from the laptop")
    # Another device, a later token for the same user: the same visitor and history.
    second = _session(world, _identity(world, {**claims, "exp": int(time.time()) + 300}))
    assert second.status_code == 201
    assert second.json()["visitor"]["id"] == visitor["id"]
    assert second.json()["visitor_token"] != first.json()["visitor_token"]
    listed = client.get(
        "/api/v1/widget/conversations", headers=bearer(second.json()["visitor_token"])
    ).json()["conversations"]
    assert [c["id"] for c in listed] == [started["conversation"]["id"]]
    # A different sub is a different visitor.
    third = _session(world, _identity(world, {**claims, "sub": "user-43"}))
    assert third.json()["visitor"]["id"] != visitor["id"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs512(claims: dict[str, Any], secret: str) -> str:
    with warnings.catch_warnings():  # the site secret is sized for HS256, which is the point
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS512")


def test_bad_identity_tokens_are_refused(client: TestClient) -> None:
    world = api_world(client)
    other = new_site(client, world.op, name="Other")
    other_secret = client.get(f"/api/v1/sites/{other['id']}", headers=world.op).json()[
        "identity_secret"
    ]
    secret = client.get(f"/api/v1/sites/{world.site['id']}", headers=world.op).json()[
        "identity_secret"
    ]
    now = int(time.time())
    good = {"sub": "user-1", "exp": now + 600}
    valid = _identity(world, good)
    header, payload, signature = valid.split(".")
    flipped_sig = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[2] ^= 0x01
    none_token = (
        _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        + "."
        + _b64(json.dumps(good).encode())
        + "."
    )
    refused = {
        "alg none": none_token,
        "alg none, signature kept": none_token + signature,
        "HS512": _hs512(good, secret),
        "flipped signature byte": f"{header}.{payload}.{flipped_sig}",
        "flipped payload byte": f"{header}.{_b64(bytes(raw))}.{signature}",
        "expired": _identity(world, {"sub": "user-1", "exp": now - 3600}),
        "missing exp": _identity(world, {"sub": "user-1"}),
        "missing sub": _identity(world, {"exp": now + 600}),
        "empty sub": _identity(world, {"sub": "", "exp": now + 600}),
        "other site's secret": jwt.encode(good, other_secret, algorithm="HS256"),
        "lives more than a day": _identity(world, {"sub": "user-1", "exp": now + 2 * 86400}),
        "not a JWT": "not-a-jwt",
        "garbage segments": "a.b.c",
        "injection": "' OR 1=1 --",
    }
    for label, token in refused.items():
        response = _session(world, token)
        assert response.status_code == 403, (label, response.text)
        assert_error(response, 403, "forbidden")
    assert _session(world, valid).status_code == 201


def test_identity_required_site(client: TestClient) -> None:
    world = api_world(client)
    patched = client.patch(
        f"/api/v1/sites/{world.site['id']}", json={"identity_required": True}, headers=world.op
    )
    assert patched.json()["identity_required"] is True
    config = client.get("/api/v1/widget/config", params={"site_key": world.site["site_key"]})
    assert config.json()["site"]["identity_required"] is True
    assert_error(_session(world, None), 403, "forbidden")
    assert_error(_session(world, None, name="Anon"), 403, "forbidden")
    token = _identity(world, {"sub": "u-9", "exp": int(time.time()) + 60})
    assert _session(world, token).status_code == 201


def test_rotating_the_identity_secret_invalidates_old_tokens(client: TestClient) -> None:
    world = api_world(client)
    old = _identity(world, {"sub": "u-1", "exp": int(time.time()) + 600})
    rotated = client.patch(
        f"/api/v1/sites/{world.site['id']}", json={"rotate_identity_secret": True}, headers=world.op
    )
    assert rotated.status_code == 200
    assert_error(_session(world, old), 403, "forbidden")
    fresh = _identity(world, {"sub": "u-1", "exp": int(time.time()) + 600})
    assert _session(world, fresh).status_code == 201


def test_event_cursors_from_elsewhere_are_expired(client: TestClient) -> None:
    world = api_world(client)
    for path, headers in (("/api/v1/widget/events", world.visitor), ("/api/v1/events", world.op)):
        head = client.get(f"{path}?wait=0", headers=headers).json()
        assert head["events"] == [] and head["cursor"] > 0
        ahead = client.get(f"{path}?after={head['cursor'] + 1000}&wait=0", headers=headers)
        assert_error(ahead, 410, "cursor_expired")
        caught_up = client.get(f"{path}?after={head['cursor']}&wait=0", headers=headers).json()
        assert caught_up == {"events": [], "cursor": head["cursor"]}
