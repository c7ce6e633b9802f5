"""The timeline over HTTP: assignment, status and label changes as private system entries
in the operators' history and events, with who made them; never in the visitor's."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi.testclient import TestClient

from tests.api.expect import send_visitor
from tests.api.test_bots import bot_token
from tests.api.world import ApiWorld, api_world, quick_operator
from tests.factories import bearer, login


def _history(world: ApiWorld, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    cid = world.conversation["id"]
    got = world.client.get(f"/api/v1/conversations/{cid}/messages", headers=headers or world.op)
    assert got.status_code == 200, got.text
    found: list[dict[str, Any]] = got.json()["messages"]
    return found


def _patch(world: ApiWorld, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    cid = world.conversation["id"]
    response = world.client.patch(
        f"/api/v1/conversations/{cid}", json=body, headers=headers or world.op
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_every_change_is_an_entry_with_who_made_it(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    ben = quick_operator(client, "agent", name="Ben")
    ana = quick_operator(client, "admin", name="Ana")
    login(client, world.owner)
    bot = bot_token(client, world.owner, world.site["id"], name="Helper")["token"]
    as_ana = login(client, ana)
    ana_headers = {"x-csrf-token": as_ana.csrf_token or ""}
    _patch(world, {"assignee_id": ben.id}, ana_headers)
    _patch(world, {"labels": ["billing", "vip"]}, ana_headers)
    sent = send_visitor(client, world.visitor_token, cid, "Still broken")
    assert sent.status_code == 201
    _patch(world, {"status": "resolved", "labels": ["vip"]}, ana_headers)
    _patch(world, {"assignee_id": None}, ana_headers)
    _patch(world, {"status": "open", "assignee_id": None}, bearer(bot))
    _patch(world, {})  # nothing changes: no entry

    history = _history(world)
    system = [m for m in history if m["author"]["type"] == "system"]
    assert all(m["private"] is True and m["body"] == "" for m in system)
    assert all(m["author"] == {"type": "system", "id": None, "name": None} for m in system)
    ana_by = {"type": "operator", "id": ana.id, "name": "Ana"}
    told = [(m["kind"], m["data"]) for m in system]
    assert told[0] == (
        "assigned",
        {"assignee": {"id": ben.id, "name": "Ben"}, "previous": None, "by": ana_by},
    )
    assert told[1] == ("labels", {"added": ["billing", "vip"], "removed": [], "by": ana_by})
    assert told[2] == ("status", {"status": "resolved", "previous": "open", "by": ana_by})
    assert told[3] == ("labels", {"added": [], "removed": ["billing"], "by": ana_by})
    assert told[4] == (
        "unassigned",
        {"assignee": None, "previous": {"id": ben.id, "name": "Ben"}, "by": ana_by},
    )
    assert told[5][0] == "status" and told[5][1]["status"] == "open"
    assert told[5][1]["by"]["type"] == "bot" and told[5][1]["by"]["name"] == "Helper"
    assert len(system) == 6
    # Inline, in the order things happened: the visitor's message between the entries.
    order = [m["kind"] if m["author"]["type"] == "system" else m["body"] for m in history]
    assert order == [
        *("Hello", "assigned", "labels", "Still broken"),
        *("status", "labels", "unassigned", "status"),
    ]
    # Live: each entry came as a message.created event to operators.
    events = client.get("/api/v1/events?after=0&wait=0", headers=world.op).json()["events"]
    live = [
        e["data"]["message"]["id"]
        for e in events
        if e["type"] == "message.created" and e["data"]["message"].get("kind")
    ]
    assert live == [m["id"] for m in system]


def test_entries_never_reach_the_visitor_over_rest_or_long_poll(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    agent = quick_operator(client, "agent", name="Ben")
    _patch(world, {"assignee_id": agent.id, "labels": ["secret-label"], "status": "pending"})
    send_visitor(client, world.visitor_token, cid, "Hello?")
    theirs = client.get(f"/api/v1/widget/conversations/{cid}/messages", headers=world.visitor)
    assert [m["author"]["type"] for m in theirs.json()["messages"]] == ["visitor", "visitor"]
    polled = client.get("/api/v1/widget/events?after=0&wait=0", headers=world.visitor).json()
    for event in polled["events"]:
        message = event["data"].get("message")
        assert message is None or message["author"]["type"] == "visitor", event
    assert "secret-label" not in str(polled) and '"kind"' not in str(polled)
    # The operator's history has them: the same conversation, seen from the team.
    assert {m["kind"] for m in _history(world) if "kind" in m} == {"assigned", "labels", "status"}


def test_a_visitor_cannot_send_as_the_system(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    for extra in ({"kind": "status"}, {"private": True}, {"author": {"type": "system"}}):
        body = {"body": "x", "client_msg_id": secrets.token_hex(6), **extra}
        sent = client.post(
            f"/api/v1/widget/conversations/{cid}/messages", json=body, headers=world.visitor
        )
        assert sent.status_code == 422, sent.text
    assert all("kind" not in m for m in _history(world))
