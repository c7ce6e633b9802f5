"""A client that hangs up on a parked events request frees it at once.

``chatdesk serve``'s HTTP protocol tells the request itself (its hang-up hook, the
``HANG_UP`` scope extension), so a parked reader needs no task of its own; on a server
without the hook (uvicorn alone), a task per parked request waits on ``receive``.
Both are run here on a live server, with raw sockets the test closes itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chatdesk.settings import Settings
from chatdesk.web import events_api
from chatdesk.web.delivery import EventStream
from tests.conftest import SERVED_PROTOCOL
from tests.realtime.conftest import (
    Live,
    Scene,
    head_of,
    make_scene,
    on_server_loop,
    park_raw,
    wait_until,
)

pytestmark = pytest.mark.live

WIDGET_EVENTS = "/api/v1/widget/events"
PROTOCOLS = {"served": SERVED_PROTOCOL, "uvicorn": "httptools"}


@pytest.fixture(params=list(PROTOCOLS))
def scene(request: pytest.FixtureRequest, quiet_settings: Settings) -> Iterator[Scene]:
    live = Live(quiet_settings, PROTOCOLS[request.param])
    live.server.start()
    made = make_scene(live)
    yield made
    made.close()
    live.server.stop()


def _watching_tasks(live: Live) -> int:
    """Tasks on the server's loop waiting on a request's ``receive`` for its hang-up."""
    return on_server_loop(
        live,
        lambda: sum(
            1 for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "_watch_disconnect"
        ),
    )


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream"])
def test_a_parked_reader_whose_client_hangs_up_is_let_go_at_once(scene: Scene, accept: str) -> None:
    live = scene.live
    before = live.parked()
    [sock] = park_raw(scene, accept=accept)
    try:
        if accept == "text/event-stream":
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        wait_until(lambda: live.parked() == before + 1, what="the reader to park")
        served = live.server.protocol is SERVED_PROTOCOL
        # Told by the server: no task per parked reader; else one waits on receive().
        assert _watching_tasks(live) == (0 if served else 1)
    finally:
        sock.close()
    # Closed well before the 50 s wait: the server lets go at once, and keeps nothing.
    wait_until(lambda: live.parked() == before, timeout=3, what="the reader to unpark")
    wait_until(lambda: _watching_tasks(live) == 0, timeout=3, what="no watching task left")


def test_a_finished_long_poll_leaves_no_hang_up_callback_on_its_connection(
    scene: Scene,
) -> None:
    """A keep-alive connection serves request after request: a poll that ended
    unregisters its callback, so a later hang-up wakes nobody it no longer concerns."""
    live = scene.live
    head = head_of(scene.visitor_http, WIDGET_EVENTS, scene.visitor_headers())
    reply = scene.operator_says("answer for a parked poll")
    answered = scene.visitor_http.get(
        WIDGET_EVENTS, params={"after": head, "wait": 20}, headers=scene.visitor_headers()
    )
    assert [e["data"]["message"]["id"] for e in answered.json()["events"]] == [reply["id"]]
    connections = on_server_loop(live, lambda: list(live.server.state().connections))
    assert connections  # the client's keep-alive connection, still open
    if live.server.protocol is SERVED_PROTOCOL:
        assert [c for c in connections if getattr(c, "_on_hang_up", None) is not None] == []


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream"])
def test_a_client_gone_before_its_request_waits_is_let_go_at_once(
    scene: Scene, accept: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request registers for the hang-up only once it is about to wait (after its
    credentials and first read): a client that left before that is noticed then."""
    live = scene.live
    before = live.parked()
    slow_open, slow_poll = EventStream.open, events_api.long_poll

    async def open_late(*args: Any, **kwargs: Any) -> EventStream:
        await asyncio.sleep(0.5)  # the client hangs up meanwhile
        return await slow_open(*args, **kwargs)

    async def poll_late(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.5)
        return await slow_poll(*args, **kwargs)

    monkeypatch.setattr(EventStream, "open", open_late)
    monkeypatch.setattr(events_api, "long_poll", poll_late)
    park_raw(scene, accept=accept)[0].close()
    time.sleep(1.0)  # the request has parked by now, or has already been let go
    wait_until(lambda: live.parked() == before, timeout=3, what="the reader to be let go")
