"""Blocking abusive visitors (ADR 0018): who may block and lift, what a block refuses,
what it leaves alone, when it ends, and the audit log."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.api.world import ApiWorld, api_world, quick_operator
from tests.factories import FakeClock, bearer, login, start_conversation, visitor_token
from tests.security.arena import new_session


def _visitor_id(world: ApiWorld, token: str) -> str:
    me = world.client.get("/api/v1/widget/visitor", headers=bearer(token))
    assert me.status_code == 200, me.text
    visitor_id: str = me.json()["id"]
    return visitor_id


def _block(world: ApiWorld, headers: dict[str, str], visitor_id: str, **fields: Any) -> Any:
    body = {"visitor_id": visitor_id, "duration_seconds": 3600, **fields}
    return world.client.post("/api/v1/blocks", json=body, headers=headers)


def _send(world: ApiWorld, token: str, conversation_id: str, body: str = "hi") -> Any:
    return world.client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"body": body, "client_msg_id": secrets.token_hex(8)},
        headers=bearer(token),
    )


def _assert_blocked(response: Any) -> None:
    error = assert_error(response, 403, "forbidden")
    assert "blocked" in error["message"]
    assert error["details"]["reason"] == "blocked"
    assert error["details"]["blocked_until"]


def test_a_blocked_visitor_cannot_write_but_reads_their_history(client: TestClient) -> None:
    world = api_world(client)
    conversation_id = world.conversation["id"]
    visitor_id = _visitor_id(world, world.visitor_token)
    before = client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"body": "before", "client_msg_id": "m-before"},
        headers=world.visitor,
    )
    assert before.status_code == 201
    made = _block(world, world.op, visitor_id, reason="spam")
    assert made.status_code == 201, made.text
    block = made.json()
    assert block["active"] is True and block["visitor_id"] == visitor_id
    assert block["visitor_name"] == "Vera Visitor" and block["reason"] == "spam"
    assert block["ip"] is None
    _assert_blocked(_send(world, world.visitor_token, conversation_id))
    # A retry of a message stored before the block still gets its stored answer.
    retry = client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"body": "before", "client_msg_id": "m-before"},
        headers=world.visitor,
    )
    assert retry.status_code == 200 and retry.json()["body"] == "before"
    _assert_blocked(
        client.post(
            "/api/v1/widget/conversations",
            json={"body": "again", "client_msg_id": secrets.token_hex(8)},
            headers=world.visitor,
        )
    )
    _assert_blocked(
        client.post(f"/api/v1/widget/conversations/{conversation_id}/typing", headers=world.visitor)
    )
    _assert_blocked(
        client.patch("/api/v1/widget/visitor", json={"name": "X"}, headers=world.visitor)
    )
    upload = client.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        files={"file": ("a.txt", b"words", "text/plain")},
        headers=world.visitor,
    )
    _assert_blocked(upload)
    transcript = client.post(
        f"/api/v1/widget/conversations/{conversation_id}/transcript", headers=world.visitor
    )
    _assert_blocked(transcript)
    # Reading their own history stays allowed: nothing new was stored.
    history = client.get(
        f"/api/v1/widget/conversations/{conversation_id}/messages", headers=world.visitor
    )
    assert history.status_code == 200
    assert [m["body"] for m in history.json()["messages"]] == ["Hello", "before"]
    assert client.get("/api/v1/widget/conversations", headers=world.visitor).status_code == 200
    # Operators still reply into the conversation.
    reply = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "Bye", "client_msg_id": secrets.token_hex(8)},
        headers=world.op,
    )
    assert reply.status_code == 201
    # Another visitor of the site is not affected.
    other = visitor_token(client, world.site["site_key"], name="Otto")
    assert start_conversation(client, other, "fine")["message"]["body"] == "fine"
    # Listed, then lifted: the visitor writes again; both steps are in the audit log.
    listed = client.get("/api/v1/blocks", headers=world.op).json()["blocks"]
    assert [b["id"] for b in listed] == [block["id"]]
    lifted = client.delete(f"/api/v1/blocks/{block['id']}", headers=world.op)
    assert lifted.status_code == 204
    assert_error(client.delete(f"/api/v1/blocks/{block['id']}", headers=world.op), 409, "conflict")
    assert _send(world, world.visitor_token, conversation_id).status_code == 201
    assert client.get("/api/v1/blocks", headers=world.op).json()["blocks"] == []
    ended = client.get("/api/v1/blocks?include_ended=true", headers=world.op).json()["blocks"]
    assert ended[0]["active"] is False and ended[0]["lifted_at"] is not None
    owner = login(client, world.owner)
    audit = client.get("/api/v1/audit-log", headers={"X-CSRF-Token": owner.csrf_token or ""})
    actions = [(e["action"], e["target_id"]) for e in audit.json()["entries"]]
    assert ("visitor.block", visitor_id) in actions and ("visitor.unblock", visitor_id) in actions


def test_blocks_by_identity_sub_and_by_address_refuse_new_sessions(client: TestClient) -> None:
    world = api_world(client)
    site = client.get(f"/api/v1/sites/{world.site['id']}", headers=world.op).json()
    exp = int(datetime.now(UTC).timestamp()) + 600

    def identified(sub: str, ip_headers: dict[str, str] | None = None) -> Any:
        token = jwt.encode({"sub": sub, "exp": exp}, site["identity_secret"], algorithm="HS256")
        body = {"site_key": world.site["site_key"], "identity_token": token}
        return client.post("/api/v1/widget/sessions", json=body, headers=ip_headers)

    first = identified("user-42")
    assert first.status_code == 201
    visitor_id = first.json()["visitor"]["id"]
    made = _block(world, world.op, visitor_id, include_ip=True, duration_seconds=86400)
    assert made.status_code == 201, made.text
    assert made.json()["external_id"] == "user-42" and made.json()["ip"] == "testclient"
    # The same user from any device: refused with words; the address too, for anyone.
    _assert_blocked(identified("user-42"))
    _assert_blocked(
        client.post("/api/v1/widget/sessions", json={"site_key": world.site["site_key"]})
    )


def test_blocks_end_by_themselves(settings: Settings) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    with TestClient(create_app(settings, clock=clock)) as client:
        world = api_world(client)
        visitor_id = _visitor_id(world, world.visitor_token)
        assert _block(world, world.op, visitor_id, duration_seconds=3600).status_code == 201
        _assert_blocked(_send(world, world.visitor_token, world.conversation["id"]))
        clock.now += timedelta(minutes=59)
        _assert_blocked(_send(world, world.visitor_token, world.conversation["id"]))
        clock.now += timedelta(minutes=2)
        assert _send(world, world.visitor_token, world.conversation["id"]).status_code == 201
        assert client.get("/api/v1/blocks", headers=world.op).json()["blocks"] == []
        # A run-out block cannot be lifted: it has ended.
        ended = client.get("/api/v1/blocks?include_ended=true", headers=world.op).json()
        block_id = ended["blocks"][0]["id"]
        assert_error(client.delete(f"/api/v1/blocks/{block_id}", headers=world.op), 409, "conflict")


def test_agents_block_on_their_sites_and_only_admins_lift(client: TestClient) -> None:
    world = api_world(client)
    other_site = client.post("/api/v1/sites", json={"name": "Other"}, headers=world.op).json()
    agent = quick_operator(client, "agent", site_ids=[world.site["id"]])
    stranger = quick_operator(client, "agent", site_ids=[other_site["id"]])
    visitor_id = _visitor_id(world, world.visitor_token)
    agent_headers = new_session(client, agent).headers
    stranger_headers = new_session(client, stranger).headers
    # An agent of another site: not found, the same as a visitor that does not exist.
    assert_error(_block(world, stranger_headers, visitor_id), 404, "not_found")
    assert_error(_block(world, stranger_headers, "0" * 32), 404, "not_found")
    made = _block(world, agent_headers, visitor_id)
    assert made.status_code == 201
    block_id = made.json()["id"]
    assert client.get("/api/v1/blocks", headers=stranger_headers).json()["blocks"] == []
    assert_error(
        client.delete(f"/api/v1/blocks/{block_id}", headers=stranger_headers), 404, "not_found"
    )
    assert_error(
        client.delete(f"/api/v1/blocks/{block_id}", headers=agent_headers), 403, "forbidden"
    )
    # Visitors never reach the operators' routes.
    assert_error(client.get("/api/v1/blocks", headers=world.visitor), 401, "unauthorized")
    assert client.delete(f"/api/v1/blocks/{block_id}", headers=world.op).status_code == 204


def test_blocking_needs_a_known_address_and_valid_fields(client: TestClient) -> None:
    world = api_world(client)
    visitor_id = _visitor_id(world, world.visitor_token)
    for bad in (
        {"duration_seconds": 10},
        {"duration_seconds": 400 * 86400},
        {"duration_seconds": "3600"},
        {"include_ip": "yes"},
        {"reason": "x" * 501},
        {"extra": 1},
    ):
        assert_error(_block(world, world.op, visitor_id, **bad), 422, "validation_error")
    assert client.get("/api/v1/blocks", headers=world.op).json()["blocks"] == []


def test_a_blocked_visitors_flood_stays_limited(settings: Settings) -> None:
    """Refused writes count against the visitor's message limit like any other: a blocked
    visitor who keeps sending gets 429 before the writer hears of them."""
    limited = Settings.model_validate(
        {**settings.model_dump(), "rate_limits": "on", "rate_limit_visitor_message": "5/minute"}
    )
    with TestClient(create_app(limited)) as client:
        world = api_world(client)  # the first message spent one of the five
        visitor_id = _visitor_id(world, world.visitor_token)
        assert _block(world, world.op, visitor_id).status_code == 201
        codes = [
            _send(world, world.visitor_token, world.conversation["id"], f"spam {n}").status_code
            for n in range(8)
        ]
        assert codes[:4] == [403] * 4
        assert set(codes[4:]) == {429}
        history = client.get(
            f"/api/v1/widget/conversations/{world.conversation['id']}/messages",
            headers=world.visitor,
        )
        assert [m["body"] for m in history.json()["messages"]] == ["Hello"]
