"""Open event streams per principal are capped: one token cannot hold hundreds. The
extra stream gets a 429 in words; a stream that ends, however, frees its slot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from tests.factories import csrf
from tests.realtime.conftest import (
    Frame,
    Live,
    Scene,
    head_of,
    make_scene,
    next_event,
    sse_frames,
    wait_until,
)

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"
SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def capped(live_factory: Callable[..., Live]) -> Iterator[Scene]:
    made = make_scene(live_factory(max_streams_visitor=2, max_streams_operator=3))
    yield made
    made.close()


@contextmanager
def open_stream(
    http: httpx.Client, path: str, headers: dict[str, str]
) -> Iterator[tuple[httpx.Response, Iterator[Frame]]]:
    with http.stream("GET", path, params={"after": 0}, headers={**SSE, **headers}) as response:
        assert response.status_code == 200, response.read()
        frames = sse_frames(response)
        next(frames)  # the retry frame: the stream is up
        yield response, frames


def refused(response: httpx.Response) -> str:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["RateLimit-Remaining"] == "0"
    message: str = error["message"]
    return message


def new_client(scene: Scene) -> httpx.Client:
    """Another connection of the scene's, closed with it."""
    http = scene.live.client()
    scene.extra.append(http)
    return http


def held(scene: Scene, principal: str) -> int:
    count: int = scene.live.app.state.services.stream_slots.held(principal)
    return count


def test_a_visitor_holds_at_most_its_cap_and_a_closed_stream_frees_its_slot(
    capped: Scene,
) -> None:
    headers = capped.visitor_headers()
    visitor = (
        "visitor:" + capped.visitor_http.get("/api/v1/widget/visitor", headers=headers).json()["id"]
    )
    with ExitStack() as streams:
        first, frames = streams.enter_context(open_stream(new_client(capped), WIDGET, headers))
        streams.enter_context(open_stream(new_client(capped), WIDGET, headers))
        assert held(capped, visitor) == 2
        extra = capped.visitor_http.get(WIDGET, params={"after": 0}, headers={**SSE, **headers})
        assert "at once" in refused(extra)
        # A long-poll is a stream too.
        poll = capped.visitor_http.get(WIDGET, params={"wait": 0}, headers=headers)
        refused(poll)
        # The streams still deliver; other visitors are not affected.
        other_token, _ = capped.new_visitor()
        with open_stream(new_client(capped), WIDGET, {"Authorization": f"Bearer {other_token}"}):
            pass
        assert next_event(frames).payload["type"] == "conversation.created"
        first.close()  # the client leaves: its slot comes back
        wait_until(lambda: held(capped, visitor) == 1, what="the closed stream's slot")
        with open_stream(new_client(capped), WIDGET, headers):
            assert held(capped, visitor) == 2
    wait_until(lambda: held(capped, visitor) == 0, what="every slot back")
    assert capped.visitor_http.get(WIDGET, params={"wait": 0}, headers=headers).status_code == 200


def test_finished_long_polls_and_refused_streams_hold_no_slot(capped: Scene) -> None:
    headers = capped.visitor_headers()
    for _ in range(5):  # many more than the cap, one after another
        response = capped.visitor_http.get(WIDGET, params={"wait": 0}, headers=headers)
        assert response.status_code == 200, response.text
    bad = capped.visitor_http.get(
        WIDGET, headers={**SSE, **headers, "Last-Event-ID": "not-a-number"}
    )
    assert bad.status_code == 422
    cursor = head_of(capped.visitor_http, WIDGET, headers)
    params = {"wait": 3, "after": cursor}
    with ThreadPoolExecutor(2) as pool:  # two parked long-polls fill the cap...
        parked = [
            pool.submit(new_client(capped).get, WIDGET, params=params, headers=headers)
            for _ in range(2)
        ]
        wait_until(lambda: capped.live.parked() >= 2, what="two parked polls")
        refused(capped.visitor_http.get(WIDGET, params={"wait": 0}, headers=headers))
        for poll in parked:
            answered = poll.result(timeout=10)
            assert answered.status_code == 200 and answered.json()["events"] == []
    # ...and free it when they return.
    assert capped.visitor_http.get(WIDGET, params={"wait": 0}, headers=headers).status_code == 200


def test_operators_have_their_own_larger_cap(capped: Scene) -> None:
    operator = "operator:" + capped.owner.id
    with ExitStack() as streams:
        for _ in range(3):
            streams.enter_context(open_stream(capped.owner_http, CONSOLE, csrf(capped.owner)))
        assert held(capped, operator) == 3
        refused(capped.owner_http.get(CONSOLE, params={"after": 0}, headers=SSE))
    wait_until(lambda: held(capped, operator) == 0, what="the operator's slots back")
    assert capped.owner_http.get(CONSOLE, params={"wait": 0}).status_code == 200
