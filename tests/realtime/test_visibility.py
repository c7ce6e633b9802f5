"""Who sees which events: visitors their own public ones, operators their sites' ones."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.factories import Operator, bearer, create_site, csrf, login
from tests.realtime.conftest import (
    Scene,
    head_of,
    operator_post,
    poll,
    start_chat,
    visitor_session,
)

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"


def follow(http: httpx.Client, path: str, headers: dict[str, str], after: int) -> list[Any]:
    """Every event after ``after`` visible to the caller, page by page."""
    seen: list[Any] = []
    while True:
        got = poll(http, path, headers, after)
        seen.extend(got["events"])
        if got["cursor"] == after:
            return seen
        after = got["cursor"]


def patch(scene: Scene, body: dict[str, Any]) -> None:
    response = scene.owner_http.patch(
        f"/api/v1/conversations/{scene.conversation_id}", json=body, headers=csrf(scene.owner)
    )
    assert response.status_code == 200, response.text


def test_visitor_sees_only_its_own_public_events(scene: Scene) -> None:
    start = head_of(scene.owner_http, CONSOLE, {})
    other_token, other_conversation = scene.new_visitor("Olga")
    reply = scene.operator_says("Hello Vera")
    note = scene.operator_says("Internal: VIP", private=True)
    patch(scene, {"labels": ["vip", "billing"]})  # label-only: internal
    response = scene.visitor_http.patch(
        "/api/v1/widget/visitor", json={"name": "Vera V."}, headers=scene.visitor_headers()
    )
    assert response.status_code == 200
    read = scene.owner_http.post(
        f"/api/v1/conversations/{scene.conversation_id}/read", headers=csrf(scene.owner)
    )
    assert read.status_code == 200, read.text
    patch(scene, {"status": "resolved"})  # visible to the visitor
    mine = scene.visitor_says("Thanks")  # reopens: message + status change
    operator_sees = follow(scene.owner_http, CONSOLE, {}, start)
    visitor_sees = follow(scene.visitor_http, WIDGET, scene.visitor_headers(), start)
    other_sees = follow(scene.visitor_http, WIDGET, bearer(other_token), start)

    op_types = [e["type"] for e in operator_sees]
    assert "visitor.updated" in op_types
    assert any(e["data"].get("changes") == ["labels"] for e in operator_sees)
    assert any(e["data"].get("message", {}).get("id") == note["id"] for e in operator_sees)

    assert {e["conversation_id"] for e in visitor_sees} == {scene.conversation_id}
    assert [
        (e["type"], e["data"].get("message", {}).get("id"), e["data"].get("changes"))
        for e in visitor_sees
    ] == [
        ("message.created", reply["id"], None),
        ("conversation.updated", None, ["status"]),
        ("message.created", mine["id"], None),
        ("conversation.updated", None, ["status"]),
    ]
    for event in visitor_sees:
        assert event["data"].get("message", {}).get("private") in (None, False)
        assert "Internal: VIP" not in str(event)
        # The conversation shape a visitor gets leaves the internal labels out.
        assert "vip" not in event["data"].get("conversation", {}).get("labels", [])

    assert {e["conversation_id"] for e in other_sees} == {other_conversation}
    assert [e["type"] for e in other_sees] == ["conversation.created", "message.created"]


def test_visitor_cursor_skips_what_it_may_not_see(scene: Scene) -> None:
    start = head_of(scene.visitor_http, WIDGET, scene.visitor_headers())
    scene.operator_says("note 1", private=True)
    scene.operator_says("note 2", private=True)
    got = poll(scene.visitor_http, WIDGET, scene.visitor_headers(), start, wait=0.5)
    assert got["events"] == []
    # The cursor moves past invisible events, so the next read does not rescan them.
    assert got["cursor"] == head_of(scene.owner_http, CONSOLE, {}) > start


def add_agent(scene: Scene, site_ids: list[str]) -> tuple[httpx.Client, Operator]:
    email = f"agent-{secrets.token_hex(4)}@example.com"
    password = "agent-" + secrets.token_urlsafe(12)
    response = scene.owner_http.post(
        "/api/v1/operators",
        json={
            "email": email,
            "name": "Agent A",
            "role": "agent",
            "password": password,
            "site_ids": site_ids,
        },
        headers=csrf(scene.owner),
    )
    assert response.status_code == 201, response.text
    http = scene.live.client()
    scene.extra.append(http)
    agent = login(http, Operator(response.json()["id"], email, password, "agent"))
    return http, agent


def test_agent_sees_only_its_sites_events(scene: Scene) -> None:
    other_site = create_site(
        scene.owner_http, scene.owner, name="Other shop", assign_on_reply=False
    )
    agent_http, agent = add_agent(scene, [scene.site["id"]])
    start = head_of(agent_http, CONSOLE, {})
    stranger = visitor_session(scene.visitor_http, other_site["site_key"], name="Stan")
    foreign = start_chat(scene.visitor_http, stranger, "Anyone on the other site?")
    foreign_id = foreign["conversation"]["id"]
    operator_post(scene.owner_http, scene.owner, foreign_id, "Other site reply", private=False)
    mine = scene.visitor_says("On the agent's site")
    reply = operator_post(agent_http, agent, scene.conversation_id, "Agent here", private=False)

    agent_sees = follow(agent_http, CONSOLE, {}, start)
    owner_sees = follow(scene.owner_http, CONSOLE, {}, start)
    assert {e["conversation_id"] for e in agent_sees} == {scene.conversation_id}
    assert [e["data"]["message"]["id"] for e in agent_sees] == [mine["id"], reply["id"]]
    assert foreign_id in {e["conversation_id"] for e in owner_sees}
    assert len(owner_sees) == len(agent_sees) + 3  # conversation.created + 2 messages
