"""Typing signals: ephemeral (id null, never stored), delivered to the other side only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.factories import csrf
from tests.realtime.conftest import Scene, head_of, next_event, poll, sse_frames, wait_until

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"


def operator_typing(scene: Scene, body: dict[str, Any] | None = None) -> None:
    response = scene.owner_http.post(
        f"/api/v1/conversations/{scene.conversation_id}/typing",
        json=body,
        headers=csrf(scene.owner),
    )
    assert response.status_code == 204, response.text
    assert response.content == b""


def visitor_typing(scene: Scene) -> None:
    response = scene.visitor_http.post(
        f"/api/v1/widget/conversations/{scene.conversation_id}/typing",
        headers=scene.visitor_headers(),
    )
    assert response.status_code == 204, response.text


def test_operator_typing_reaches_a_parked_visitor_long_poll(scene: Scene) -> None:
    cursor = head_of(scene.visitor_http, WIDGET, scene.visitor_headers())
    with ThreadPoolExecutor(1) as pool:
        parked = pool.submit(poll, scene.visitor_http, WIDGET, scene.visitor_headers(), cursor, 20)
        wait_until(lambda: scene.live.parked() >= 1, what="the poll to park")
        operator_typing(scene)
        got = parked.result(timeout=5)
    assert got["cursor"] == cursor  # typing is not in the log
    [event] = got["events"]
    assert event["id"] is None
    assert event["type"] == "typing"
    assert event["conversation_id"] == scene.conversation_id
    assert event["data"]["author"]["type"] == "operator"
    assert event["data"]["author"]["id"] == scene.owner.id
    # Never stored: a later read from the same cursor finds nothing.
    assert poll(scene.visitor_http, WIDGET, scene.visitor_headers(), cursor)["events"] == []


def test_visitor_typing_reaches_the_operator_sse_stream(scene: Scene) -> None:
    sse = {"Accept": "text/event-stream"}
    with scene.owner_http.stream("GET", CONSOLE, headers=sse) as response:
        frames = sse_frames(response)
        assert next(frames).retry is not None
        visitor_typing(scene)
        frame = next_event(frames, timeout=5)
    assert frame.event == "typing" and frame.id is None
    assert frame.payload["id"] is None
    assert frame.payload["data"]["author"] == {
        "type": "visitor",
        "id": frame.payload["data"]["author"]["id"],
        "name": "Vera Visitor",
    }


def test_private_operator_typing_never_reaches_the_visitor(scene: Scene) -> None:
    visitor_cursor = head_of(scene.visitor_http, WIDGET, scene.visitor_headers())
    owner_cursor = head_of(scene.owner_http, CONSOLE, {})
    with ThreadPoolExecutor(2) as pool:
        visitor = pool.submit(
            poll, scene.visitor_http, WIDGET, scene.visitor_headers(), visitor_cursor, 1.5
        )
        # httpx clients are thread-safe: the owner's own session parks a poll too.
        colleague = pool.submit(poll, scene.owner_http, CONSOLE, {}, owner_cursor, 10)
        wait_until(lambda: scene.live.parked() >= 2, what="both polls to park")
        operator_typing(scene, {"private": True})  # typing a private note
        # The operators' side does get it, so the visitor's silence means something.
        [seen] = colleague.result(timeout=5)["events"]
        assert seen["type"] == "typing" and seen["data"]["private"] is True
        assert visitor.result(timeout=5) == {"events": [], "cursor": visitor_cursor}


def test_visitor_does_not_get_its_own_typing_back(scene: Scene) -> None:
    cursor = head_of(scene.visitor_http, WIDGET, scene.visitor_headers())
    with ThreadPoolExecutor(1) as pool:
        parked = pool.submit(poll, scene.visitor_http, WIDGET, scene.visitor_headers(), cursor, 1)
        wait_until(lambda: scene.live.parked() >= 1, what="the poll to park")
        visitor_typing(scene)
        assert parked.result(timeout=5) == {"events": [], "cursor": cursor}


def test_typing_in_someone_elses_conversation_is_404(scene: Scene) -> None:
    other_token, other_conversation = scene.new_visitor()
    response = scene.visitor_http.post(
        f"/api/v1/widget/conversations/{other_conversation}/typing",
        headers=scene.visitor_headers(),
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert other_token
