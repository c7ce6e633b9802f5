"""A visitor's several conversations (issue 16, part 5): started one after another, all
open at once, listed newest first with the visitor's own unread count (the team's
messages after their read receipt), each readable once resolved."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi.testclient import TestClient

from tests.api.world import ApiWorld, api_world
from tests.factories import bearer, start_conversation, visitor_token


def _reply(world: ApiWorld, cid: str, body: str, *, private: bool = False) -> dict[str, Any]:
    sent = world.client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"body": body, "client_msg_id": secrets.token_hex(6), "private": private},
        headers=world.op,
    )
    assert sent.status_code == 201, sent.text
    result: dict[str, Any] = sent.json()
    return result


def _mine(world: ApiWorld, token: str | None = None) -> list[dict[str, Any]]:
    headers = bearer(token) if token else world.visitor
    response = world.client.get("/api/v1/widget/conversations", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["conversations"]
    return found


def test_a_visitor_keeps_several_conversations_with_their_own_unread_counts(
    client: TestClient,
) -> None:
    world = api_world(client)
    first = world.conversation["id"]
    second = start_conversation(client, world.visitor_token, "About my invoice")["conversation"]
    assert second["id"] != first
    # Both open at once: a new conversation does not close or replace the first.
    listed = _mine(world)
    assert [c["id"] for c in listed] == [second["id"], first]  # newest first
    assert [c["status"] for c in listed] == ["open", "open"]
    assert [c["unread_count"] for c in listed] == [0, 0]

    _reply(world, first, "One")
    older = _reply(world, first, "Two")
    _reply(world, first, "A note for the team", private=True)  # never counted, never shown
    _reply(world, second["id"], "Three")
    counts = {c["id"]: c["unread_count"] for c in _mine(world)}
    assert counts == {first: 2, second["id"]: 1}
    # The reply moved the first conversation up.
    assert _mine(world)[0]["id"] == second["id"]

    # A read receipt in one conversation leaves the other's count alone.
    read = client.post(
        f"/api/v1/widget/conversations/{first}/read",
        json={"message_id": older["id"]},
        headers=world.visitor,
    )
    assert read.status_code == 204, read.text
    counts = {c["id"]: c["unread_count"] for c in _mine(world)}
    assert counts == {first: 0, second["id"]: 1}
    # The visitor's own messages never count.
    client.post(
        f"/api/v1/widget/conversations/{first}/messages",
        json={"body": "Thanks", "client_msg_id": secrets.token_hex(6)},
        headers=world.visitor,
    )
    assert {c["id"]: c["unread_count"] for c in _mine(world)}[first] == 0
    # The operators' count stays theirs, in their own shape.
    theirs = client.get(f"/api/v1/conversations/{first}", headers=world.op).json()
    assert theirs["unread_count"] >= 1


def test_a_resolved_conversation_stays_listed_and_readable(client: TestClient) -> None:
    world = api_world(client)
    first = world.conversation["id"]
    _reply(world, first, "Solved, I think")
    resolved = client.patch(
        f"/api/v1/conversations/{first}", json={"status": "resolved"}, headers=world.op
    )
    assert resolved.status_code == 200, resolved.text
    second = start_conversation(client, world.visitor_token, "Another question")["conversation"]
    listed = _mine(world)
    assert [(c["id"], c["status"]) for c in listed] == [
        (second["id"], "open"),
        (first, "resolved"),
    ]
    history = client.get(f"/api/v1/widget/conversations/{first}/messages", headers=world.visitor)
    assert history.status_code == 200
    assert [m["body"] for m in history.json()["messages"]] == ["Hello", "Solved, I think"]


def test_another_visitor_sees_none_of_them(client: TestClient) -> None:
    world = api_world(client)
    start_conversation(client, world.visitor_token, "Second")
    other = visitor_token(client, world.site["site_key"], name="Otto Other")
    assert _mine(world, other) == []
    refused = client.get(
        f"/api/v1/widget/conversations/{world.conversation['id']}/messages",
        headers=bearer(other),
    )
    assert refused.status_code == 404
