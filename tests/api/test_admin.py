"""Settings API: sites, operators, canned responses, API tokens and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from chatdesk.ids import new_id
from tests.api.expect import assert_error
from tests.api.world import api_token, api_world, quick_operator
from tests.factories import bearer, csrf, login


def test_sites_crud(client: TestClient) -> None:
    world = api_world(client)
    created = client.post(
        "/api/v1/sites",
        json={
            "name": "Blog <b>",
            "allowed_origins": ["https://Blog.Example.com/", "http://localhost:8080"],
            "greeting": "' OR 1=1 --",
            "accent_color": "#ABCDEF",
            "position": "left",
            "prechat": {"name": "required", "email": "off"},
            "offline_message": "Back soon",
            "business_hours": {"timezone": "Europe/Paris", "days": {"mon": [["09:00", "17:30"]]}},
        },
        headers=world.op,
    )
    assert created.status_code == 201, created.text
    site = created.json()
    assert site["site_key"].startswith("pk_")
    assert site["name"] == "Blog <b>" and site["greeting"] == "' OR 1=1 --"
    assert site["allowed_origins"] == ["https://blog.example.com", "http://localhost:8080"]
    assert site["prechat"] == {"name": "required", "email": "off"}
    assert site["position"] == "left" and site["enabled"] is True
    assert site["business_hours"]["days"] == {"mon": [["09:00", "17:30"]]}
    listed = client.get("/api/v1/sites", headers=world.op).json()["sites"]
    assert [s["id"] for s in listed] == [world.site["id"], site["id"]]
    one = client.get(f"/api/v1/sites/{site['id']}", headers=world.op).json()
    assert one["site_key"] == site["site_key"] and len(one["identity_secret"]) >= 32
    patched = client.patch(
        f"/api/v1/sites/{site['id']}",
        json={"name": "Blog", "position": "right", "business_hours": None},
        headers=world.op,
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Blog" and patched.json()["business_hours"] is None
    assert patched.json()["site_key"] == site["site_key"]
    rotated = client.patch(
        f"/api/v1/sites/{site['id']}", json={"rotate_identity_secret": True}, headers=world.op
    )
    assert rotated.json()["identity_secret"] != one["identity_secret"]


def test_site_bad_inputs(client: TestClient) -> None:
    world = api_world(client)
    bad_bodies: list[dict[str, Any]] = [
        {"name": "S", "allowed_origins": ["shop.example.com"]},
        {"name": "S", "allowed_origins": ["https://shop.example.com/path"]},
        {"name": "S", "allowed_origins": ["javascript:alert(1)"]},
        {"name": "S", "allowed_origins": "https://a.example"},
        {"name": "S", "allowed_origins": ["https://a.example"] * 51},
        {"name": "S", "accent_color": "red"},
        {"name": "S", "accent_color": "#12345"},
        {"name": "S", "position": "top"},
        {"name": "S", "prechat": {"name": "sometimes"}},
        {"name": "S", "prechat": {"phone": "required"}},
        {"name": "S", "greeting": "g" * 501},
        {"name": "S", "business_hours": {"timezone": "Mars/Base"}},
        {"name": "S", "business_hours": {"timezone": "UTC", "days": {"funday": []}}},
        {"name": "S", "business_hours": {"timezone": "UTC", "days": {"mon": [["18:00", "09:00"]]}}},
        {"name": "S", "business_hours": {"timezone": "UTC", "days": {"mon": [["9", "10"]]}}},
        {"name": "S", "business_hours": {"timezone": "UTC", "days": {"mon": [["25:00", "26:00"]]}}},
        {"name": "S", "business_hours": {"timezone": "UTC", "extra": 1}},
        {"name": "S", "enabled": "sometimes"},
        {"name": "S", "site_key": "pk_mine"},
        {"name": "S", "identity_secret": "mine"},
    ]
    for body in bad_bodies:
        response = client.post("/api/v1/sites", json=body, headers=world.op)
        assert_error(response, 422, "validation_error")
        patch = {k: v for k, v in body.items() if k != "name"}
        response = client.patch(f"/api/v1/sites/{world.site['id']}", json=patch, headers=world.op)
        assert_error(response, 422, "validation_error")
    assert len(client.get("/api/v1/sites", headers=world.op).json()["sites"]) == 1


def test_operators_crud(client: TestClient) -> None:
    world = api_world(client)
    created = client.post(
        "/api/v1/operators",
        json={
            "email": " New.Agent@Example.com ",
            "name": "New <Agent>",
            "role": "agent",
            "password": "correct horse battery",
            "site_ids": [world.site["id"]],
        },
        headers=world.op,
    )
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["email"] == "new.agent@example.com" and agent["role"] == "agent"
    assert agent["site_ids"] == [world.site["id"]] and agent["active"] is True
    # Neither the password nor its hash comes back (only whether it must be changed).
    assert "correct horse" not in created.text and "argon2" not in created.text
    assert "password_hash" not in created.text and agent["must_change_password"] is False
    # The new operator can sign in with that password.
    signed = client.post(
        "/api/v1/auth/login",
        json={"email": "new.agent@example.com", "password": "correct horse battery"},
    )
    assert signed.status_code == 200
    client.cookies.clear()
    listed = client.get("/api/v1/operators", headers=world.op).json()["operators"]
    assert {o["id"] for o in listed} == {world.owner.id, agent["id"]}
    assert all("password_hash" not in o for o in listed)
    patched = client.patch(
        f"/api/v1/operators/{agent['id']}",
        json={"name": "Renamed", "role": "admin", "site_ids": []},
        headers=world.op,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed" and patched.json()["role"] == "admin"
    assert patched.json()["site_ids"] == []
    duplicate = client.post(
        "/api/v1/operators",
        json={"email": "NEW.agent@example.com", "name": "Dup", "password": "another-password"},
        headers=world.op,
    )
    assert_error(duplicate, 409, "conflict")


def test_operator_bad_inputs(client: TestClient) -> None:
    world = api_world(client)
    target = quick_operator(client, "agent")
    base = {"email": "ok@example.com", "name": "Ok", "password": "long-enough-pw"}
    for body in (
        {**base, "email": "no-at-sign"},
        {**base, "email": "two@@example.com"},
        {**base, "email": "spaces in@example.com"},
        {**base, "password": "short"},
        {**base, "password": "p" * 1001},
        {**base, "role": "superuser"},
        {**base, "role": None},
        {**base, "site_ids": "all"},
        {**base, "active": False},
    ):
        response = client.post("/api/v1/operators", json=body, headers=world.op)
        assert_error(response, 422, "validation_error")
    unknown_site = client.post(
        "/api/v1/operators", json={**base, "site_ids": [new_id()]}, headers=world.op
    )
    assert_error(unknown_site, 422, "validation_error")
    for patch in ({"role": "root"}, {"active": "no"}, {"password": "short"}, {"email": "x@y.z"}):
        response = client.patch(f"/api/v1/operators/{target.id}", json=patch, headers=world.op)
        assert_error(response, 422, "validation_error")
    listed = client.get("/api/v1/operators", headers=world.op).json()["operators"]
    assert len(listed) == 2


def test_canned_responses(client: TestClient) -> None:
    world = api_world(client)
    created = client.post(
        "/api/v1/canned-responses",
        json={"shortcut": "refund", "body": "<b>Refunds</b> take 5 days"},
        headers=world.op,
    )
    assert created.status_code == 201, created.text
    canned = created.json()
    assert canned["body"] == "<b>Refunds</b> take 5 days"
    dup = client.post(
        "/api/v1/canned-responses", json={"shortcut": "refund", "body": "x"}, headers=world.op
    )
    assert_error(dup, 409, "conflict")
    for body in (
        {"shortcut": "Has Caps", "body": "x"},
        {"shortcut": "", "body": "x"},
        {"shortcut": "s" * 51, "body": "x"},
        {"shortcut": "ok", "body": " "},
        {"shortcut": "ok", "body": "b" * 10_001},
    ):
        response = client.post("/api/v1/canned-responses", json=body, headers=world.op)
        assert_error(response, 422, "validation_error")
    listed = client.get("/api/v1/canned-responses", headers=world.op).json()["canned_responses"]
    assert [c["shortcut"] for c in listed] == ["refund"]
    deleted = client.delete(f"/api/v1/canned-responses/{canned['id']}", headers=world.op)
    assert deleted.status_code == 204 and deleted.content == b""
    again = client.delete(f"/api/v1/canned-responses/{canned['id']}", headers=world.op)
    assert_error(again, 404, "not_found")
    assert client.get("/api/v1/canned-responses", headers=world.op).json()["canned_responses"] == []


def test_api_tokens_shown_once_and_revocable(client: TestClient) -> None:
    world = api_world(client)
    created = client.post(
        "/api/v1/api-tokens", json={"name": "Zapier", "role": "agent"}, headers=world.op
    )
    assert created.status_code == 201, created.text
    token = created.json()
    assert token["token"].startswith("cdk_") and token["role"] == "agent"
    assert token["prefix"] == token["token"][:10]
    listed = client.get("/api/v1/api-tokens", headers=world.op)
    assert token["token"] not in listed.text
    assert token["id"] in [t["id"] for t in listed.json()["api_tokens"]]
    # An agent-role token acts as an agent: no settings.
    as_agent = bearer(token["token"])
    assert client.get("/api/v1/conversations", headers=as_agent).status_code == 200
    assert_error(client.get("/api/v1/sites", headers=as_agent), 403, "forbidden")
    for bad in ({"name": ""}, {"name": "t", "role": "owner"}, {"role": "admin"}):
        response = client.post("/api/v1/api-tokens", json=bad, headers=world.op)
        assert_error(response, 422, "validation_error")
    revoked = client.delete(f"/api/v1/api-tokens/{token['id']}", headers=world.op)
    assert revoked.status_code == 204
    assert_error(client.get("/api/v1/conversations", headers=as_agent), 401, "unauthorized")
    assert token["id"] not in client.get("/api/v1/api-tokens", headers=world.op).text
    again = client.delete(f"/api/v1/api-tokens/{token['id']}", headers=world.op)
    assert_error(again, 404, "not_found")


def test_an_admin_cannot_mint_a_token_above_its_role(client: TestClient) -> None:
    world = api_world(client)
    admin = quick_operator(client, "admin")
    admin_token = bearer(api_token(client, admin))
    made = client.post(
        "/api/v1/api-tokens", json={"name": "t", "role": "admin"}, headers=admin_token
    )
    assert made.status_code == 201
    # Demoting the admin demotes its tokens too.
    client.patch(f"/api/v1/operators/{admin.id}", json={"role": "agent"}, headers=world.op)
    demoted = bearer(made.json()["token"])
    assert_error(client.get("/api/v1/operators", headers=demoted), 403, "forbidden")


def test_audit_log_is_for_owners(client: TestClient) -> None:
    world = api_world(client)
    owner = csrf(login(client, world.owner))
    client.patch(
        f"/api/v1/conversations/{world.conversation['id']}",
        json={"status": "pending"},
        headers=world.op,
    )
    client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": "nope"})
    log = client.get("/api/v1/audit-log", headers=owner)
    assert log.status_code == 200
    entries = log.json()["entries"]
    actions = [e["action"] for e in entries]
    assert actions[:4] == ["auth.login_failed", "conversation.status", "auth.login", "site.create"]
    assert "nope" not in log.text  # the failed password is never recorded
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)
    only = client.get("/api/v1/audit-log?action=site.create", headers=owner).json()["entries"]
    assert [e["target_id"] for e in only] == [world.site["id"]]
    mine = client.get(
        f"/api/v1/audit-log?operator_id={world.owner.id}&limit=1", headers=owner
    ).json()["entries"]
    assert len(mine) == 1 and mine[0]["operator_id"] == world.owner.id
    older = client.get(f"/api/v1/audit-log?before={ids[0]}", headers=owner).json()["entries"]
    assert [e["id"] for e in older] == ids[1:]
    admin = quick_operator(client, "admin")
    for headers in (bearer(api_token(client, admin)), world.op):  # world.op: an admin-role token
        assert_error(client.get("/api/v1/audit-log", headers=headers), 403, "forbidden")


def test_agents_are_refused_admin_work(client: TestClient) -> None:
    world = api_world(client)
    agent = login(client, quick_operator(client, "agent"))
    headers = csrf(agent)
    canned = client.post(
        "/api/v1/canned-responses", json={"shortcut": "hi", "body": "Hello!"}, headers=world.op
    ).json()
    refused = [
        ("GET", "/api/v1/sites", None),
        ("POST", "/api/v1/sites", {"name": "Mine"}),
        ("GET", f"/api/v1/sites/{world.site['id']}", None),
        ("PATCH", f"/api/v1/sites/{world.site['id']}", {"name": "Mine"}),
        ("GET", "/api/v1/operators", None),
        (
            "POST",
            "/api/v1/operators",
            {"email": "e@example.com", "name": "E", "password": "long-enough-pw"},
        ),
        ("PATCH", f"/api/v1/operators/{world.owner.id}", {"name": "Pwned"}),
        ("PATCH", f"/api/v1/operators/{agent.id}", {"role": "owner"}),
        ("GET", "/api/v1/api-tokens", None),
        ("POST", "/api/v1/api-tokens", {"name": "t", "role": "agent"}),
        ("DELETE", f"/api/v1/api-tokens/{new_id()}", None),
        ("POST", "/api/v1/canned-responses", {"shortcut": "x", "body": "y"}),
        ("DELETE", f"/api/v1/canned-responses/{canned['id']}", None),
        ("GET", "/api/v1/audit-log", None),
    ]
    for method, path, body in refused:
        response = client.request(method, path, json=body, headers=headers)
        assert_error(response, 403, "forbidden")
    # What agents may do.
    assert (
        client.get("/api/v1/canned-responses").json()["canned_responses"][0]["id"] == canned["id"]
    )
    assert client.get("/api/v1/team").status_code == 200
    assert client.get("/api/v1/labels").status_code == 200
    me = client.get("/api/v1/auth/me").json()["operator"]
    assert me["role"] == "agent" and me["name"] == "Op"


def test_owner_rules(client: TestClient) -> None:
    world = api_world(client)
    admin = quick_operator(client, "admin")
    admin_headers = bearer(api_token(client, admin))
    other_owner = quick_operator(client, "owner")
    agent = quick_operator(client, "agent")
    base = {"name": "N", "password": "long-enough-pw"}
    made_owner = client.post(
        "/api/v1/operators",
        json={**base, "email": "o@example.com", "role": "owner"},
        headers=admin_headers,
    )
    assert_error(made_owner, 403, "forbidden")
    for patch in (
        {"name": "x"},
        {"active": False},
        {"role": "agent"},
        {"password": "new-password-1"},
    ):
        response = client.patch(
            f"/api/v1/operators/{other_owner.id}", json=patch, headers=admin_headers
        )
        assert_error(response, 403, "forbidden")
    promote = client.patch(
        f"/api/v1/operators/{agent.id}", json={"role": "owner"}, headers=admin_headers
    )
    assert_error(promote, 403, "forbidden")
    # An owner (signed in: API tokens never carry the owner role) makes and manages owners.
    owner = csrf(login(client, world.owner))
    # Nobody deactivates themselves or changes their own role.
    for actor, headers in ((admin, admin_headers), (world.owner, owner)):
        for patch in ({"active": False}, {"role": "agent"}):
            response = client.patch(f"/api/v1/operators/{actor.id}", json=patch, headers=headers)
            assert_error(response, 409, "conflict")
    assert client.get("/api/v1/auth/me").json()["operator"]["active"] is True
    by_owner = client.post(
        "/api/v1/operators",
        json={**base, "email": "o2@example.com", "role": "owner"},
        headers=owner,
    )
    assert by_owner.status_code == 201
    rename = client.patch(
        f"/api/v1/operators/{other_owner.id}", json={"name": "Co-owner"}, headers=owner
    )
    assert rename.status_code == 200
    states = {
        o["id"]: o for o in client.get("/api/v1/operators", headers=world.op).json()["operators"]
    }
    assert states[other_owner.id]["role"] == "owner" and states[other_owner.id]["active"] is True
    assert states[admin.id]["active"] is True and states[agent.id]["role"] == "agent"
