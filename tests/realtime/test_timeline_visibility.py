"""Timeline entries on a live server: operators get them live; a visitor never does,
over a parked long-poll or an SSE stream (REST: tests/api/test_timeline.py)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.factories import csrf
from tests.realtime.conftest import Scene, head_of, next_event, poll, sse_frames

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"
SSE = {"Accept": "text/event-stream"}


def _changes(scene: Scene) -> None:
    """Assign, label, snooze, reopen: every kind of timeline entry an operator makes."""
    path = f"/api/v1/conversations/{scene.conversation_id}"
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    for body in (
        {"assignee_id": scene.owner.id},
        {"labels": ["vip"]},
        {"status": "snoozed", "snoozed_until": until},
        {"status": "resolved"},
        {"assignee_id": None},
    ):
        answer = scene.owner_http.patch(path, json=body, headers=csrf(scene.owner))
        assert answer.status_code == 200, answer.text


def _is_entry(event: dict[str, Any]) -> bool:
    message = event["data"].get("message") or {}
    return message.get("author", {}).get("type") == "system" or "kind" in message


def test_a_parked_visitor_long_poll_and_sse_stream_get_no_entry(scene: Scene) -> None:
    visitor = scene.visitor_headers()
    widget_head = head_of(scene.visitor_http, WIDGET, visitor)
    console_head = head_of(scene.owner_http, CONSOLE, {})
    seen_by_stream: list[dict[str, Any]] = []
    stream_ready = threading.Event()

    def read_stream() -> None:
        params = {"after": widget_head}
        with (
            scene.live.client() as http,
            http.stream("GET", WIDGET, params=params, headers={**SSE, **visitor}) as response,
        ):
            frames = sse_frames(response)
            assert next(frames).retry is not None
            stream_ready.set()
            while True:
                frame = next_event(frames, timeout=10)
                seen_by_stream.append(frame.payload)
                if frame.event == "message.created" and "Done" in (frame.data or ""):
                    return

    reader = threading.Thread(target=read_stream, daemon=True)
    reader.start()
    assert stream_ready.wait(10)
    # A long-poll parked before the changes: it returns with what the visitor may see.
    parked: dict[str, Any] = {}
    poller = threading.Thread(
        target=lambda: parked.update(poll(scene.visitor_http, WIDGET, visitor, widget_head, 10))
    )
    poller.start()
    time.sleep(0.3)
    _changes(scene)
    scene.operator_says("Done")
    poller.join(15)
    reader.join(15)
    assert not reader.is_alive() and not poller.is_alive()
    assert parked["events"], parked
    assert not any(_is_entry(e) for e in parked["events"]), parked
    assert not any(_is_entry(e) for e in seen_by_stream), seen_by_stream
    assert "vip" not in str(parked) + str(seen_by_stream)
    assert "snoozed" not in str(parked) + str(seen_by_stream)
    # Everything the visitor may see came: the reply, and the status changes it sees.
    assert seen_by_stream[-1]["data"]["message"]["body"] == "Done"
    # Later reads from the cursor show no entry either.
    after = poll(scene.visitor_http, WIDGET, visitor, widget_head)
    assert not any(_is_entry(e) for e in after["events"])
    # The operators got all five, live.
    theirs = poll(scene.owner_http, CONSOLE, {}, console_head)["events"]
    kinds = [e["data"]["message"]["kind"] for e in theirs if _is_entry(e)]
    assert kinds == ["assigned", "labels", "snoozed", "status", "unassigned"]
