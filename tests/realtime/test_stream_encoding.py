"""Compression on the event routes, on a live server: a stream never, a long-poll
answer above 1 KiB yes (API.md, Service)."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.realtime.conftest import Scene, sse_frames

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
OFFER = {"Accept-Encoding": "gzip, br"}


def test_an_event_stream_is_never_compressed(scene: Scene) -> None:
    headers = {**OFFER, "Accept": "text/event-stream", **scene.visitor_headers()}
    with scene.visitor_http.stream("GET", WIDGET, params={"after": 0}, headers=headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in resp.headers
        # Frames arrive as they are written (a buffered stream would hang here).
        frames = sse_frames(resp)
        assert next(frames).retry is not None
        assert next(frames).event == "conversation.created"


def test_a_long_poll_answer_above_one_kib_is_compressed(scene: Scene) -> None:
    scene.visitor_says("Where is my parcel? " * 100)
    headers = {"Accept-Encoding": "gzip", **scene.visitor_headers()}
    with scene.visitor_http.stream(
        "GET", WIDGET, params={"after": 0, "wait": 0}, headers=headers
    ) as resp:
        raw = b"".join(resp.iter_raw())
    assert resp.status_code == 200 and resp.headers["content-encoding"] == "gzip"
    events = json.loads(gzip.decompress(raw))["events"]
    assert any("Where is my parcel?" in json.dumps(event) for event in events)
