"""What a parked events request holds on ``chatdesk serve``'s stack.

Thousands of widgets each hold one events request open, so every object a parked
request keeps is multiplied by them. Each saving below is kept by a test that fails
if it is lost, and the whole by a measure of what parking requests allocates.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tests.conftest import SERVED_PROTOCOL
from tests.realtime.conftest import Live, Scene, make_scene, on_server_loop, park_raw, wait_until

pytestmark = pytest.mark.live

PARKED = 200
# Measured 2026-12-07: 13.2 to 13.5 KB per parked long-poll allocated in this process (the
# server's objects, and the test's socket for it). The bound leaves room for the spread
# between runs; a lost saving of 1.5 KB or more shows here, and each saving has its own
# test above or in test_hang_ups.py.
BOUND_BYTES = 14_500


@pytest.fixture
def scene(live_factory: Callable[..., Live]) -> Iterator[Scene]:
    made = make_scene(live_factory(max_streams_visitor=PARKED + 40))
    yield made
    made.close()


def test_the_protocol_keeps_the_instance_dict_uvicorn_has() -> None:
    """uvicorn's protocol sets about thirty attributes, the most an instance dict shares
    keys for: chatdesk's keeps its own in slots, or every connection's dict would be a
    table of its own (1,584 bytes instead of 288)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    config = Config(app)
    config.load()
    loop = asyncio.new_event_loop()
    try:
        plain = HttpToolsProtocol(config, ServerState(), {}, _loop=loop)
        ours = SERVED_PROTOCOL(config, ServerState(), {}, _loop=loop)
        assert sys.getsizeof(ours.__dict__) <= sys.getsizeof(plain.__dict__)
    finally:
        loop.close()


def test_layers_that_pass_every_request_through_are_left_out(app: FastAPI) -> None:
    layers = []
    layer: Any = app.build_middleware_stack()
    while type(layer).__name__ not in ("APIRouter", "Router"):
        layers.append(type(layer).__name__)
        layer = layer.app
    assert layers[:3] == ["ServerErrorMiddleware", "EdgeMiddleware", "DirectLane"]
    assert "ExceptionTelemetryMiddleware" not in layers
    assert "AppBodyLimitMiddleware" not in layers


def test_a_parked_connection_keeps_its_event_waiters_in_lists(scene: Scene) -> None:
    live = scene.live
    socks = park_raw(scene, 1)
    try:
        wait_until(lambda: live.parked() == 1, what="the poll to park")

        def look() -> list[tuple[Any, ...]]:
            found = []
            for connection in live.server.state().connections:
                cycle = connection.cycle
                if cycle is None or cycle.response_complete:
                    continue  # the scene's own clients, between requests
                found.append(
                    (
                        type(connection.flow._is_writable_event._waiters),
                        type(cycle.message_event._waiters),
                    )
                )
            return found

        # uvicorn's two events per connection keep their waiters in a list, not a deque
        # of 64 slots.
        assert on_server_loop(live, look) == [(list, list)]
    finally:
        for sock in socks:
            sock.close()


# Coverage's tracer allocates its own records as the parked requests run (3 KB each
# here): it is paused for this measure.
@pytest.mark.no_cover
def test_what_a_parked_long_poll_allocates_is_bounded(scene: Scene) -> None:
    live = scene.live
    warm = park_raw(scene, 20)  # what the server allocates once, before measuring
    wait_until(lambda: live.parked() == 20, what="the first polls to park")
    tracemalloc.start()
    socks: list[socket.socket] = []
    try:
        before = tracemalloc.take_snapshot()
        socks = park_raw(scene, PARKED)
        wait_until(lambda: live.parked() == 20 + PARKED, timeout=30, what="every poll to park")
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        for sock in warm + socks:
            sock.close()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    per_request = grown / PARKED
    assert per_request < BOUND_BYTES, f"{per_request:.0f} bytes per parked long-poll"
