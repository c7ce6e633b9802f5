"""``client_msg_id``: a retried send stores one message, even when the retries race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from chatdesk.actions.api_tokens import create_api_token
from chatdesk.actions.operators import create_operator
from chatdesk.db.runner import Database
from chatdesk.security.principals import OperatorActor
from chatdesk.settings import Settings
from tests.api.expect import assert_error, send_visitor
from tests.api.world import api_world
from tests.conftest import LiveServer
from tests.factories import bearer, visitor_token


def _messages(client: Any, headers: dict[str, str], cid: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/conversations/{cid}/messages", headers=headers)
    assert response.status_code == 200
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def test_visitor_message_twice_is_stored_once(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    first = send_visitor(client, world.visitor_token, cid, "only once", "dup-1")
    second = send_visitor(client, world.visitor_token, cid, "only once", "dup-1")
    changed = send_visitor(client, world.visitor_token, cid, "a different body", "dup-1")
    assert first.status_code == 201
    assert second.status_code == 200 and changed.status_code == 200
    assert second.json() == first.json() == changed.json()
    bodies = [m["body"] for m in _messages(client, world.op, cid)]
    assert bodies == ["Hello", "only once"]
    events = client.get("/api/v1/widget/events?after=0&wait=0", headers=world.visitor).json()
    created = [e for e in events["events"] if e["type"] == "message.created"]
    assert len(created) == 2


def test_operator_message_twice_is_stored_once(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    body = {"body": "reply", "client_msg_id": "op-dup", "private": True}
    first = client.post(f"/api/v1/conversations/{cid}/messages", json=body, headers=world.op)
    second = client.post(f"/api/v1/conversations/{cid}/messages", json=body, headers=world.op)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    # The visitor and the operator have their own id spaces.
    same_id = send_visitor(client, world.visitor_token, cid, "visitor side", "op-dup")
    assert same_id.status_code == 201
    assert [m["body"] for m in _messages(client, world.op, cid)] == [
        "Hello",
        "reply",
        "visitor side",
    ]


def test_new_conversation_twice_is_one_conversation(client: TestClient) -> None:
    world = api_world(client)
    body = {"body": "I need help", "client_msg_id": "start-1"}
    first = client.post("/api/v1/widget/conversations", json=body, headers=world.visitor)
    second = client.post("/api/v1/widget/conversations", json=body, headers=world.visitor)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["message"] == second.json()["message"]
    assert first.json()["conversation"]["id"] == second.json()["conversation"]["id"]
    listed = client.get("/api/v1/widget/conversations", headers=world.visitor).json()
    assert len(listed["conversations"]) == 2  # the world's first one, and this one
    # Another visitor may use the same client_msg_id: ids are per author.
    other = visitor_token(client, world.site["site_key"])
    theirs = client.post("/api/v1/widget/conversations", json=body, headers=bearer(other))
    assert theirs.status_code == 201
    assert theirs.json()["conversation"]["id"] != first.json()["conversation"]["id"]


def test_client_msg_id_reused_for_another_conversation_conflicts(client: TestClient) -> None:
    world = api_world(client)
    first_cid = world.conversation["id"]
    second = client.post(
        "/api/v1/widget/conversations",
        json={"body": "second", "client_msg_id": "s-1"},
        headers=world.visitor,
    ).json()["conversation"]["id"]
    assert send_visitor(client, world.visitor_token, first_cid, "x", "reuse-1").status_code == 201
    conflict = send_visitor(client, world.visitor_token, second, "x", "reuse-1")
    assert_error(conflict, 409, "conflict")
    also = send_visitor(client, world.visitor_token, first_cid, "y", "s-1")
    assert_error(also, 409, "conflict")
    operator_reply = {"body": "r", "client_msg_id": "op-reuse"}
    ok = client.post(
        f"/api/v1/conversations/{first_cid}/messages", json=operator_reply, headers=world.op
    )
    assert ok.status_code == 201
    clash = client.post(
        f"/api/v1/conversations/{second}/messages", json=operator_reply, headers=world.op
    )
    assert_error(clash, 409, "conflict")
    assert [m["body"] for m in _messages(client, world.op, second)] == ["second"]


def _race(
    count: int, send: Callable[[httpx.Client], httpx.Response], url: str
) -> list[httpx.Response]:
    """``count`` threads, each with its own connection, released together."""
    barrier = threading.Barrier(count)
    results: list[httpx.Response] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            with httpx.Client(base_url=url, timeout=30) as http:
                http.get("/healthz")  # connect before the barrier
                barrier.wait()
                response = send(http)
            with lock:
                results.append(response)
        except BaseException as exc:  # reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == count
    return results


@pytest.mark.live
@pytest.mark.parametrize("count", [2, 10])
def test_concurrent_sends_store_one_message(
    live_server: LiveServer, settings: Settings, count: int
) -> None:
    with httpx.Client(base_url=live_server.url, headers=bearer(_owner_token(settings))) as http:
        response = http.post("/api/v1/sites", json={"name": "Race", "allowed_origins": []})
        site = response.json()
        token = visitor_token(http, site["site_key"], name="Racer")
        start = {"body": "first", "client_msg_id": "race-start"}

        results = _race(
            count,
            lambda c: c.post("/api/v1/widget/conversations", json=start, headers=bearer(token)),
            live_server.url,
        )
        assert sorted(r.status_code for r in results) == [200] * (count - 1) + [201]
        assert len({r.content for r in results}) == 1
        cid = results[0].json()["conversation"]["id"]

        body = {"body": "same message", "client_msg_id": "race-msg"}
        results = _race(
            count,
            lambda c: c.post(
                f"/api/v1/widget/conversations/{cid}/messages", json=body, headers=bearer(token)
            ),
            live_server.url,
        )
        assert sorted(r.status_code for r in results) == [200] * (count - 1) + [201]
        assert len({r.json()["id"] for r in results}) == 1

        listed = http.get("/api/v1/widget/conversations", headers=bearer(token)).json()
        assert len(listed["conversations"]) == 1
        history = http.get(f"/api/v1/conversations/{cid}/messages").json()["messages"]
        assert all(m["author"]["type"] == "visitor" for m in history)
        assert [m["body"] for m in history] == ["first", "same message"]


def _owner_token(settings: Settings) -> str:
    """An owner and its admin-role API token, made by the real actions beside the server."""
    db = Database(settings.database_url, read_threads=1)
    db.start()
    try:
        return db.write_sync(_make_owner_token)
    finally:
        db.stop()


def _make_owner_token(unit: Any) -> str:
    owner = create_operator(
        unit, None, email="racer@example.com", name="R", role="owner", password_hash="x"
    )
    actor = OperatorActor(owner["id"], "R", owner["email"], "owner", None)
    token: str = create_api_token(unit, actor, "race", "admin")[0]
    return token
