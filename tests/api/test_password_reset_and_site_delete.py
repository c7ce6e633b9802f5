"""An admin's password reset (a temporary password the operator must replace before
anything else) and deleting a site with everything of it."""

from __future__ import annotations

import secrets

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from chatdesk.db.tables import conversations, events, messages, visitors
from tests.api.expect import assert_error
from tests.api.world import PASSWORD, api_world, quick_operator
from tests.factories import bearer, csrf, login, services_db, start_conversation, visitor_token
from tests.security.arena import new_session


def _sign_in(client: TestClient, email: str, password: str) -> httpx.Response:
    client.cookies.clear()
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_a_reset_password_must_be_changed_before_anything_else(client: TestClient) -> None:
    world = api_world(client)
    agent = quick_operator(client, "agent", name="Ann Agent", site_ids=[world.site["id"]])
    old_session = new_session(client, agent).headers
    reset = client.post(f"/api/v1/operators/{agent.id}/password", json={}, headers=world.op)
    assert reset.status_code == 200, reset.text
    temporary = reset.json()["temporary_password"]
    assert len(temporary) >= 16 and temporary != PASSWORD
    # Sessions of the agent ended; the old password no longer works.
    assert_error(client.get("/api/v1/auth/me", headers=old_session), 401, "unauthorized")
    client.cookies.clear()
    assert_error(_sign_in(client, agent.email, PASSWORD), 401, "unauthorized")
    signed_in = _sign_in(client, agent.email, temporary)
    assert signed_in.status_code == 200
    assert signed_in.json()["operator"]["must_change_password"] is True
    headers = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
    # Until changed: only me, the password change and sign-out.
    for method, path, body in (
        ("GET", "/api/v1/conversations", None),
        ("GET", f"/api/v1/conversations/{world.conversation['id']}", None),
        ("PATCH", "/api/v1/auth/me", {"presence": "away"}),
        ("GET", "/api/v1/events?after=0&wait=0", None),
        ("GET", "/api/v1/canned-responses", None),
        ("POST", "/api/v1/blocks", {"visitor_id": "x", "duration_seconds": 3600}),
    ):
        error = assert_error(
            client.request(method, path, json=body, headers=headers), 403, "forbidden"
        )
        assert error["details"] == {"reason": "password_change_required"}, path
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert_error(
        client.post(
            "/api/v1/auth/password",
            json={"current_password": "wrong-password", "new_password": "a-new-password-1"},
            headers=headers,
        ),
        403,
        "forbidden",
    )
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": temporary, "new_password": "a-new-password-1"},
        headers=headers,
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/conversations", headers=headers).status_code == 200
    me = client.get("/api/v1/auth/me", headers=headers).json()["operator"]
    assert me["must_change_password"] is False
    # The audit log names the reset (owners read it).
    owner = login(client, world.owner)
    entries = client.get("/api/v1/audit-log", headers=csrf(owner)).json()["entries"]
    assert ("operator.password_reset", agent.id) in [(e["action"], e["target_id"]) for e in entries]


def test_an_admin_may_set_the_temporary_password_but_not_an_owners(client: TestClient) -> None:
    world = api_world(client)
    admin = quick_operator(client, "admin")
    agent = quick_operator(client, "agent")
    admin_headers = new_session(client, admin).headers
    chosen = client.post(
        f"/api/v1/operators/{agent.id}/password",
        json={"password": "chosen-temp-123"},
        headers=admin_headers,
    )
    assert chosen.json() == {"temporary_password": "chosen-temp-123"}
    assert _sign_in(client, agent.email, "chosen-temp-123").json()["operator"][
        "must_change_password"
    ]
    client.cookies.clear()
    path = f"/api/v1/operators/{world.owner.id}/password"
    assert_error(client.post(path, json={}, headers=admin_headers), 403, "forbidden")
    path = f"/api/v1/operators/{admin.id}/password"
    assert_error(client.post(path, json={}, headers=admin_headers), 409, "conflict")
    assert_error(
        client.post(
            f"/api/v1/operators/{agent.id}/password",
            json={"password": "short"},
            headers=admin_headers,
        ),
        422,
        "validation_error",
    )
    agent_headers = new_session(client, quick_operator(client, "agent")).headers
    path = f"/api/v1/operators/{agent.id}/password"
    assert_error(client.post(path, json={}, headers=agent_headers), 403, "forbidden")
    missing = f"/api/v1/operators/{'0' * 26}/password"
    assert_error(client.post(missing, json={}, headers=admin_headers), 404, "not_found")


def test_deleting_a_site_erases_its_conversations_and_keeps_the_others(client: TestClient) -> None:
    world = api_world(client)
    doomed = client.post("/api/v1/sites", json={"name": "Doomed"}, headers=world.op).json()
    token = visitor_token(client, doomed["site_key"], name="Gone")
    gone = start_conversation(client, token, "erase me")["conversation"]
    db = services_db(client)

    def count(table: object, column: object, value: str) -> int:
        return int(
            db.read_sync(
                lambda conn: conn.execute(
                    select(func.count()).select_from(table).where(column == value)  # type: ignore[arg-type]
                ).scalar()
            )
        )

    assert count(events, events.c.site_id, doomed["id"]) > 0
    agent = quick_operator(client, "agent", site_ids=[doomed["id"]])
    assert_error(
        client.delete(f"/api/v1/sites/{doomed['id']}", headers=new_session(client, agent).headers),
        403,
        "forbidden",
    )
    deleted = client.delete(f"/api/v1/sites/{doomed['id']}", headers=world.op)
    assert deleted.status_code == 204
    assert_error(client.get(f"/api/v1/sites/{doomed['id']}", headers=world.op), 404, "not_found")
    assert_error(client.delete(f"/api/v1/sites/{doomed['id']}", headers=world.op), 404, "not_found")
    assert count(conversations, conversations.c.site_id, doomed["id"]) == 0
    assert count(messages, messages.c.conversation_id, gone["id"]) == 0
    assert count(visitors, visitors.c.site_id, doomed["id"]) == 0
    assert count(events, events.c.site_id, doomed["id"]) == 0
    # The widget of the deleted site is gone; its visitor can no longer write.
    assert_error(
        client.get(f"/api/v1/widget/config?site_key={doomed['site_key']}"), 404, "not_found"
    )
    refused = client.post(
        "/api/v1/widget/conversations",
        json={"body": "still here?", "client_msg_id": secrets.token_hex(8)},
        headers=bearer(token),
    )
    assert refused.status_code == 401
    # The other site and its conversation are untouched.
    kept = client.get(f"/api/v1/conversations/{world.conversation['id']}", headers=world.op)
    assert kept.status_code == 200
    owner = login(client, world.owner)
    entries = client.get("/api/v1/audit-log", headers=csrf(owner)).json()["entries"]
    entry = next(e for e in entries if e["action"] == "site.delete")
    assert entry["target_id"] == doomed["id"]
    assert entry["details"] == {"name": "Doomed", "conversations": 1, "visitors": 1}
