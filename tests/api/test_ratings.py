"""Conversation ratings (CSAT): POST …/rating {score, comment?} once the conversation is
resolved; once only; the conversation carries it everywhere; the timeline, the events and
the webhooks tell of it; bad input, strangers and blocked visitors are refused clearly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.api.world import ApiWorld, api_world
from tests.factories import bearer, start_conversation, visitor_token
from tests.jobs.receiver import Receiver, verified


def _path(conversation_id: str) -> str:
    return f"/api/v1/widget/conversations/{conversation_id}/rating"


def _resolve(world: ApiWorld, conversation_id: str | None = None) -> None:
    cid = conversation_id or world.conversation["id"]
    done = world.client.patch(
        f"/api/v1/conversations/{cid}", json={"status": "resolved"}, headers=world.op
    )
    assert done.status_code == 200, done.text


def _events(client: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    page = client.get(f"{path}?after=0&wait=0", headers=headers)
    assert page.status_code == 200, page.text
    found: list[dict[str, Any]] = page.json()["events"]
    return found


def test_the_visitor_rates_a_resolved_conversation_once(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    assert world.conversation["rating"] is None
    _resolve(world)
    rated = client.post(
        _path(cid), json={"score": 4, "comment": "  Quick and kind.  "}, headers=world.visitor
    )
    assert rated.status_code == 201, rated.text
    rating = rated.json()
    assert rating["score"] == 4 and rating["comment"] == "Quick and kind."
    assert rating["created_at"].endswith("Z")
    # The conversation carries it, for the visitor and for operators.
    [mine] = client.get("/api/v1/widget/conversations", headers=world.visitor).json()[
        "conversations"
    ]
    assert mine["rating"] == rating
    assert client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()["rating"] == rating
    [listed] = client.get("/api/v1/conversations?status=resolved", headers=world.op).json()[
        "conversations"
    ]
    assert listed["rating"] == rating
    # Again, with another score: 409, and the first rating stays.
    again = client.post(_path(cid), json={"score": 1}, headers=world.visitor)
    error = assert_error(again, 409, "conflict")
    assert error["details"] == {"reason": "already_rated"}
    assert client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()["rating"] == rating
    # Reopened and resolved again: still the one rating.
    for status in ("open", "resolved"):
        client.patch(f"/api/v1/conversations/{cid}", json={"status": status}, headers=world.op)
    assert_error(client.post(_path(cid), json={"score": 5}, headers=world.visitor), 409, "conflict")


def test_the_timeline_and_the_events_tell_of_the_rating(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    _resolve(world)
    rated = client.post(_path(cid), json={"score": 2}, headers=world.visitor)
    assert rated.status_code == 201, rated.text
    assert rated.json()["comment"] is None
    history = client.get(f"/api/v1/conversations/{cid}/messages", headers=world.op).json()
    entry = history["messages"][-1]
    assert entry["kind"] == "rated" and entry["private"] is True
    assert entry["author"]["type"] == "system"
    assert entry["data"]["score"] == 2 and entry["data"]["comment"] is None
    assert entry["data"]["by"]["type"] == "visitor"
    assert entry["data"]["by"]["name"] == "Vera Visitor"
    # The visitor's history has no timeline entry.
    theirs = client.get(f"/api/v1/widget/conversations/{cid}/messages", headers=world.visitor)
    assert all(m.get("kind") is None for m in theirs.json()["messages"])

    operators = _events(client, "/api/v1/events", world.op)
    [updated] = [
        e
        for e in operators
        if e["type"] == "conversation.updated" and e["data"]["changes"] == ["rating"]
    ]
    assert updated["data"]["conversation"]["rating"] == rated.json()
    [created] = [e for e in operators if e["type"] == "rating.created"]
    assert created["conversation_id"] == cid
    assert created["data"]["rating"] == rated.json()
    assert created["data"]["conversation"]["rating"] == rated.json()
    assert created["id"] > updated["id"]
    # The visitor sees the conversation change, not the operators' rating.created.
    theirs_events = _events(client, "/api/v1/widget/events", world.visitor)
    assert "rating.created" not in {e["type"] for e in theirs_events}
    [seen] = [
        e
        for e in theirs_events
        if e["type"] == "conversation.updated" and e["data"]["changes"] == ["rating"]
    ]
    assert seen["data"]["conversation"]["rating"]["score"] == 2
    assert seen["data"]["conversation"]["labels"] == []


def test_a_conversation_not_resolved_cannot_be_rated(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    for status in (None, "pending", "snoozed"):
        if status == "snoozed":
            body = {"status": "snoozed", "snoozed_until": "2099-01-01T00:00:00Z"}
            client.patch(f"/api/v1/conversations/{cid}", json=body, headers=world.op)
        elif status is not None:
            client.patch(f"/api/v1/conversations/{cid}", json={"status": status}, headers=world.op)
        refused = client.post(_path(cid), json={"score": 5}, headers=world.visitor)
        error = assert_error(refused, 409, "conflict")
        assert error["details"] == {"reason": "not_resolved"}, status
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()
    assert got["rating"] is None
    assert "rating.created" not in {e["type"] for e in _events(client, "/api/v1/events", world.op)}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"score": 0},
        {"score": 6},
        {"score": -1},
        {"score": "4"},
        {"score": 4.0},
        {"score": 3.5},
        {"score": True},
        {"score": None},
        {"score": [4]},
        {"score": 4, "comment": 5},
        {"score": 4, "comment": ["nice"]},
        {"score": 4, "comment": {"text": "nice"}},
        {"score": 4, "comment": "x" * 2001},
        {"score": 4, "comment": "nul\x00here"},
        {"score": 4, "extra": 1},
    ],
)
def test_bad_bodies_are_422_and_store_nothing(client: TestClient, body: dict[str, Any]) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    _resolve(world)
    error = assert_error(
        client.post(_path(cid), json=body, headers=world.visitor), 422, "validation_error"
    )
    assert error["message"]
    assert client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()["rating"] is None


def test_not_json_is_refused_clearly(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    _resolve(world)
    headers = {**world.visitor, "Content-Type": "application/json"}
    response = client.post(_path(cid), content=b"{score: 4", headers=headers)
    assert 400 <= response.status_code < 500 and "error" in response.json()


def test_the_longest_comment_is_kept_whole(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    _resolve(world)
    comment = "é" * 2000
    rated = client.post(_path(cid), json={"score": 5, "comment": comment}, headers=world.visitor)
    assert rated.status_code == 201, rated.text
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()
    assert got["rating"]["comment"] == comment


def test_another_visitors_conversation_is_404_like_a_missing_one(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    _resolve(world)
    stranger = visitor_token(client, world.site["site_key"], name="Sam")
    start_conversation(client, stranger)
    for target in (cid, "c_doesnotexist", "x" * 40):
        refused = client.post(_path(target), json={"score": 5}, headers=bearer(stranger))
        assert_error(refused, 404, "not_found")
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()
    assert got["rating"] is None


def test_operators_and_strangers_without_a_visitor_token_are_refused(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    _resolve(world)
    for headers in ({}, world.op, bearer("cdv_not-a-real-token")):
        response = client.post(_path(cid), json={"score": 5}, headers=headers)
        assert_error(response, 401, "unauthorized")
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()
    assert got["rating"] is None


def test_a_blocked_visitor_cannot_rate(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    _resolve(world)
    visitor_id = client.get("/api/v1/widget/visitor", headers=world.visitor).json()["id"]
    block = {"visitor_id": visitor_id, "duration_seconds": 3600}
    assert client.post("/api/v1/blocks", json=block, headers=world.op).status_code == 201
    error = assert_error(
        client.post(_path(cid), json={"score": 1}, headers=world.visitor), 403, "forbidden"
    )
    assert error["details"]["reason"] == "blocked"
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()
    assert got["rating"] is None


@pytest.fixture
def hook_client(settings: Settings) -> Iterator[TestClient]:
    """Deliveries to loopback allowed (the receiver is there), retried quickly."""
    quick = settings.model_copy(
        update={
            "webhook_allow_private": True,
            "job_poll_seconds": 0.2,
            "job_retry_base_seconds": 0.05,
            "job_retry_max_seconds": 0.4,
        }
    )
    with TestClient(create_app(quick)) as test_client:
        yield test_client


def test_a_rating_reaches_webhook_subscribers(hook_client: TestClient, receiver: Receiver) -> None:
    client = hook_client
    world = api_world(client)
    cid = world.conversation["id"]
    made = client.post(
        "/api/v1/webhooks",
        json={"url": f"{receiver.url}/csat", "events": ["rating.created"]},
        headers=world.op,
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    _resolve(world)
    rated = client.post(_path(cid), json={"score": 5, "comment": "Great"}, headers=world.visitor)
    assert rated.status_code == 201, rated.text
    receiver.wait_for(lambda r: len(r.receipts) >= 1)
    [receipt] = receiver.receipts  # only rating.created was asked for
    body = verified(receipt, hook["secret"])
    assert receipt.path == "/csat"
    assert body["type"] == "rating.created"
    assert body["conversation_id"] == cid and body["site_id"] == world.site["id"]
    assert body["data"]["rating"] == rated.json()
    assert body["data"]["conversation"]["id"] == cid
    assert body["data"]["conversation"]["status"] == "resolved"
