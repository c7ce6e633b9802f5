"""The end-to-end happy path over HTTP: a visitor and an operator hold a conversation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import bearer, csrf, make_world


def test_visitor_and_operator_converse(client: TestClient) -> None:
    world = make_world(client)
    conversation_id = world.conversation["id"]

    listed = client.get("/api/v1/conversations").json()["conversations"]
    assert [c["id"] for c in listed] == [conversation_id]
    assert listed[0]["visitor"]["name"] == "Vera Visitor"
    assert listed[0]["unread_count"] == 1

    reply = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "Hi Vera!", "client_msg_id": "op-1"},
        headers=csrf(world.owner),
    )
    assert reply.status_code == 201, reply.text
    note = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "VIP customer", "client_msg_id": "op-2", "private": True},
        headers=csrf(world.owner),
    )
    assert note.status_code == 201

    seen = client.get(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        headers=bearer(world.visitor_token),
    ).json()["messages"]
    assert [m["body"] for m in seen] == ["Hello", "Hi Vera!"]

    events = client.get(
        "/api/v1/widget/events?after=0&wait=0", headers=bearer(world.visitor_token)
    ).json()
    types = [e["type"] for e in events["events"]]
    # The first reply assigned the conversation to whoever answered (ADR 0016), just before it.
    assert types == [
        "conversation.created",
        "message.created",
        "conversation.updated",
        "message.created",
    ]
    assert events["events"][2]["data"]["conversation"]["assignee_id"] == world.owner.id
    assert all(not e["data"].get("message", {}).get("private") for e in events["events"])
