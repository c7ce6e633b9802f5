"""Read receipts both ways: POST …/read {message_id} moves a side's mark forward only,
with one conversation.read event that both sides see; wrong ids are refused clearly."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi.testclient import TestClient

from tests.api.expect import assert_error, send_visitor
from tests.api.world import ApiWorld, api_world
from tests.factories import bearer, start_conversation, visitor_token


def _reply(world: ApiWorld, body: str, *, private: bool = False) -> dict[str, Any]:
    cid = world.conversation["id"]
    sent = world.client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"body": body, "client_msg_id": secrets.token_hex(6), "private": private},
        headers=world.op,
    )
    assert sent.status_code == 201, sent.text
    result: dict[str, Any] = sent.json()
    return result


def _reads(client: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    events = client.get(f"{path}?after=0&wait=0", headers=headers).json()["events"]
    return [e["data"] for e in events if e["type"] == "conversation.read"]


def test_the_visitor_reads_the_operators_reply(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    first, second = _reply(world, "One"), _reply(world, "Two")
    read = f"/api/v1/widget/conversations/{cid}/read"
    answer = client.post(read, json={"message_id": first["id"]}, headers=world.visitor)
    assert answer.status_code == 204 and answer.content == b""
    assert (
        client.post(read, json={"message_id": second["id"]}, headers=world.visitor).status_code
        == 204
    )
    # The same or an older message again: 204, and no event.
    for again in (second, first):
        assert (
            client.post(read, json={"message_id": again["id"]}, headers=world.visitor).status_code
            == 204
        )
    expected = [
        {"by": "visitor", "message_id": first["id"]},
        {"by": "visitor", "message_id": second["id"]},
    ]
    assert _reads(client, "/api/v1/events", world.op) == expected
    assert _reads(client, "/api/v1/widget/events", world.visitor) == expected
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()
    assert got["visitor_read_message_id"] == second["id"]
    assert got["operator_read_message_id"] is None
    mine = client.get("/api/v1/widget/conversations", headers=world.visitor).json()
    assert mine["conversations"][0]["visitor_read_message_id"] == second["id"]


def test_the_team_reads_the_visitors_messages(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    later = [send_visitor(client, world.visitor_token, cid, f"m{n}").json() for n in range(3)]
    one = f"/api/v1/conversations/{cid}"
    assert client.get(one, headers=world.op).json()["unread_count"] == 4
    read = client.post(f"{one}/read", json={"message_id": later[0]["id"]}, headers=world.op)
    assert read.status_code == 204, read.text
    # What is still unread: the visitor's messages after the mark.
    assert client.get(one, headers=world.op).json()["unread_count"] == 2
    client.post(f"{one}/read", json={"message_id": later[2]["id"]}, headers=world.op)
    conversation = client.get(one, headers=world.op).json()
    assert conversation["unread_count"] == 0
    assert conversation["operator_read_message_id"] == later[2]["id"]
    expected = [
        {"by": "operator", "message_id": later[0]["id"]},
        {"by": "operator", "message_id": later[2]["id"]},
    ]
    assert _reads(client, "/api/v1/widget/events", world.visitor) == expected
    # Without a body: the older form, the unread count cleared and the conversation back.
    send_visitor(client, world.visitor_token, cid, "again")
    legacy = client.post(f"{one}/read", headers=world.op)
    assert legacy.status_code == 200 and legacy.json()["unread_count"] == 0


def test_wrong_message_ids_are_refused(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    note = _reply(world, "internal", private=True)
    other_token = visitor_token(client, world.site["site_key"])
    other = start_conversation(client, other_token, body="Mine")
    elsewhere = other["message"]["id"]
    widget = f"/api/v1/widget/conversations/{cid}/read"
    console = f"/api/v1/conversations/{cid}/read"
    for message_id in (elsewhere, "01" + "z" * 24):
        for path, headers in ((widget, world.visitor), (console, world.op)):
            error = assert_error(
                client.post(path, json={"message_id": message_id}, headers=headers),
                422,
                "validation_error",
            )
            assert "not a message of this conversation" in error["message"]
    # A private note is not the visitor's to read (nor to learn of).
    assert_error(
        client.post(widget, json={"message_id": note["id"]}, headers=world.visitor),
        422,
        "validation_error",
    )
    # Another visitor's conversation: 404, whatever the message.
    theirs = f"/api/v1/widget/conversations/{other['conversation']['id']}/read"
    assert_error(
        client.post(theirs, json={"message_id": elsewhere}, headers=world.visitor), 404, "not_found"
    )
    assert_error(
        client.post(theirs, json={"message_id": elsewhere}, headers=bearer("vt_nope")),
        401,
        "unauthorized",
    )
    for bad in ({}, {"message_id": ""}, {"message_id": 5}, {"message_id": "x" * 33}, {"x": 1}):
        for path, headers in ((widget, world.visitor), (console, world.op)):
            assert_error(client.post(path, json=bad, headers=headers), 422, "validation_error")
    assert _reads(client, "/api/v1/events", world.op) == []
