"""Snooze over HTTP: the checks on snoozed_until, the list filter, what the visitor sees,
waking at the time (the scheduler, with an injected clock) and when the visitor writes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.api.expect import assert_error, send_visitor
from tests.api.world import ApiWorld, api_world
from tests.factories import FakeClock, login


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def timed(settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """The app on an injected clock, its scheduler looking every 50 ms."""
    quick = settings.model_copy(update={"scheduler_poll_seconds": 0.05})
    with TestClient(create_app(quick, clock=clock)) as client:
        yield client


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _patch(world: ApiWorld, body: dict[str, Any]) -> Any:
    cid = world.conversation["id"]
    return world.client.patch(f"/api/v1/conversations/{cid}", json=body, headers=world.op)


def _get(world: ApiWorld) -> dict[str, Any]:
    cid = world.conversation["id"]
    got = world.client.get(f"/api/v1/conversations/{cid}", headers=world.op)
    assert got.status_code == 200, got.text
    result: dict[str, Any] = got.json()
    return result


def _timeline(world: ApiWorld) -> list[dict[str, Any]]:
    cid = world.conversation["id"]
    listed = world.client.get(f"/api/v1/conversations/{cid}/messages", headers=world.op)
    return [m for m in listed.json()["messages"] if m["author"]["type"] == "system"]


def _events(world: ApiWorld, after: int = 0) -> list[dict[str, Any]]:
    got = world.client.get(f"/api/v1/events?after={after}&wait=0", headers=world.op)
    assert got.status_code == 200, got.text
    found: list[dict[str, Any]] = got.json()["events"]
    return found


def test_bad_snoozes_are_refused_in_words_and_change_nothing(
    timed: TestClient, clock: FakeClock
) -> None:
    world = api_world(timed)
    before = _get(world)
    hour = _at(clock.now + timedelta(hours=1))
    cases = [
        ({"status": "snoozed"}, "snoozed_until is required"),
        ({"status": "snoozed", "snoozed_until": _at(clock.now - timedelta(minutes=1))}, "future"),
        ({"status": "snoozed", "snoozed_until": _at(clock.now)}, "future"),
        ({"status": "snoozed", "snoozed_until": _at(clock.now + timedelta(days=400))}, "year"),
        ({"status": "pending", "snoozed_until": hour}, 'only with status "snoozed"'),
        ({"snoozed_until": hour}, 'only with status "snoozed"'),  # it is not snoozed
    ]
    for body, words in cases:
        error = assert_error(_patch(world, body), 422, "validation_error")
        assert words in error["message"], (body, error)
        assert error["details"]["field"] == "snoozed_until"
    for body in (
        {"status": "snoozed", "snoozed_until": "2026-13-01T00:00:00Z"},
        {"status": "snoozed", "snoozed_until": "tomorrow"},
        {"status": "snoozed", "snoozed_until": "2030-01-01T09:00:00"},  # no offset
        {"status": "snoozed", "snoozed_until": 4102444800},  # a number, not a time
    ):
        assert_error(_patch(world, body), 422, "validation_error")
    after = _get(world)
    assert after == before
    assert _timeline(world) == []


def test_snooze_filters_hides_from_the_visitor_and_wakes_once_at_its_time(
    timed: TestClient, clock: FakeClock
) -> None:
    world = api_world(timed)
    cid = world.conversation["id"]
    until = clock.now + timedelta(hours=1)
    snoozed = _patch(world, {"status": "snoozed", "snoozed_until": _at(until)})
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["status"] == "snoozed"
    assert snoozed.json()["snoozed_until"] == _at(until)
    listed = timed.get("/api/v1/conversations?status=snoozed", headers=world.op).json()
    assert [c["id"] for c in listed["conversations"]] == [cid]
    opened = timed.get("/api/v1/conversations?status=open", headers=world.op).json()
    assert cid not in [c["id"] for c in opened["conversations"]]
    # The visitor sees it open, and nothing of the snooze: REST and events.
    mine = timed.get("/api/v1/widget/conversations", headers=world.visitor).json()
    assert mine["conversations"][0]["status"] == "open"
    assert "snoozed_until" not in mine["conversations"][0]
    seen = timed.get("/api/v1/widget/events?after=0&wait=0", headers=world.visitor).json()
    assert "snoozed" not in str(seen["events"])
    # Moving the wake-up: snoozed_until alone on a snoozed conversation.
    later = until + timedelta(minutes=30)
    moved = _patch(world, {"snoozed_until": _at(later)})
    assert moved.status_code == 200 and moved.json()["snoozed_until"] == _at(later)
    head = _events(world)[-1]["id"]

    clock.now = until + timedelta(minutes=10)  # the first time has passed, not the second
    time.sleep(0.5)
    assert _get(world)["status"] == "snoozed"
    clock.now = later + timedelta(seconds=1)
    deadline = time.monotonic() + 10
    while _get(world)["status"] != "open":
        assert time.monotonic() < deadline, "the snooze did not wake"
        time.sleep(0.05)
    time.sleep(0.3)  # a second wake would be written by now
    woke = [
        e
        for e in _events(world, head)
        if e["type"] == "conversation.updated" and e["data"]["changes"] == ["status"]
    ]
    assert len(woke) == 1
    assert woke[0]["data"]["conversation"]["status"] == "open"
    assert woke[0]["data"]["conversation"]["snoozed_until"] is None
    kinds = [(m["kind"], m["data"].get("reason")) for m in _timeline(world)]
    assert kinds == [("snoozed", None), ("snoozed", None), ("woke", "time")]
    assert _timeline(world)[-1]["data"]["by"] == {"type": "system", "id": None, "name": None}


def test_a_visitor_message_wakes_it_in_the_same_unit(timed: TestClient, clock: FakeClock) -> None:
    world = api_world(timed)
    cid = world.conversation["id"]
    until = clock.now + timedelta(days=1)
    assert _patch(world, {"status": "snoozed", "snoozed_until": _at(until)}).status_code == 200
    head = _events(world)[-1]["id"]
    sent = send_visitor(timed, world.visitor_token, cid, "Any news?")
    assert sent.status_code == 201, sent.text
    conversation = _get(world)
    assert conversation["status"] == "open" and conversation["snoozed_until"] is None
    assert conversation["unread_count"] == 2
    events = _events(world, head)
    # One unit: the message, the timeline entry and the update, in consecutive ids.
    assert [e["id"] for e in events] == list(range(head + 1, head + 4))
    assert events[0]["data"]["message"]["id"] == sent.json()["id"]
    assert events[1]["data"]["message"]["kind"] == "woke"
    assert events[1]["data"]["message"]["data"]["reason"] == "visitor"
    assert events[2]["type"] == "conversation.updated"
    # The visitor saw nothing of it: only its own message.
    theirs = timed.get(f"/api/v1/widget/events?after={head}&wait=0", headers=world.visitor)
    assert [e["type"] for e in theirs.json()["events"]] == ["message.created"]
    # The time passing later wakes nothing more.
    clock.now = until + timedelta(seconds=5)
    time.sleep(0.3)
    assert len(_events(world, head)) == 3


def test_another_status_clears_the_snooze(timed: TestClient, clock: FakeClock) -> None:
    world = api_world(timed)
    until = _at(clock.now + timedelta(hours=3))
    assert _patch(world, {"status": "snoozed", "snoozed_until": until}).status_code == 200
    resolved = _patch(world, {"status": "resolved"})
    assert resolved.json()["status"] == "resolved" and resolved.json()["snoozed_until"] is None
    again = _patch(world, {"status": "snoozed", "snoozed_until": until})
    assert again.json()["snoozed_until"] == until
    reopened = _patch(world, {"status": "open"})
    assert reopened.json()["snoozed_until"] is None
    kinds = [(m["kind"], m["data"].get("status")) for m in _timeline(world)]
    assert kinds == [
        ("snoozed", None),
        ("status", "resolved"),
        ("snoozed", None),
        ("status", "open"),
    ]
    login(timed, world.owner)  # the audit log is the owner's to read
    audit = timed.get("/api/v1/audit-log", params={"action": "conversation.status"}).json()
    details = [entry["details"] for entry in reversed(audit["entries"])]
    assert details[0] == {"status": "snoozed", "snoozed_until": until}
    assert details[1] == {"status": "resolved"}
