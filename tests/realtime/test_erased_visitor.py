"""An erased visitor's token stops working in every process: two servers on one
database and one Redis bus; the token is cached by the server that did not erase."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from chatdesk.realtime.bus import MemoryBus
from tests.factories import bearer, create_site, csrf
from tests.realtime.conftest import (
    REDIS_URL,
    Live,
    ends_within,
    make_scene,
    next_event,
    operator_post,
    sse_frames,
    start_chat,
    visitor_session,
    wait_until,
)


@pytest.fixture
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.mark.redis
def test_an_erased_visitors_token_fails_on_the_other_server_at_once(
    redis_url: str, live_factory: Callable[..., Live]
) -> None:
    # Slow log polls: only the bus's message can explain a quick end on the other node.
    node_a, node_b = (live_factory(redis_url=redis_url, event_poll_seconds=30) for _ in range(2))
    scene = make_scene(node_a)
    on_b = node_b.client()
    try:
        me = on_b.get("/api/v1/widget/visitor", headers=bearer(scene.visitor_token))
        assert me.status_code == 200, me.text
        visitor_id = me.json()["id"]
        # Node B now holds the token in its cache (a minute's life).
        assert node_b.app.state.services.visitor_cache.get(scene.visitor_token) is not None
        erased = scene.owner_http.delete(
            f"/api/v1/visitors/{visitor_id}", headers=csrf(scene.owner)
        )
        assert erased.status_code == 204, erased.text
        started = time.monotonic()
        while True:
            answer = on_b.get("/api/v1/widget/visitor", headers=bearer(scene.visitor_token))
            if answer.status_code == 401:
                break
            assert answer.status_code == 200
            assert time.monotonic() - started < 2, "node B still accepts the erased token"
            time.sleep(0.01)
        assert node_b.app.state.services.visitor_cache.get(scene.visitor_token) is None
        # And on the node that erased, at once.
        here = scene.visitor_http.get("/api/v1/widget/visitor", headers=bearer(scene.visitor_token))
        assert here.status_code == 401
    finally:
        on_b.close()
        scene.close()


@pytest.mark.redis
def test_an_erased_visitors_stream_on_the_other_server_ends_at_once(
    redis_url: str, live_factory: Callable[..., Live]
) -> None:
    # Slow log polls and a minute between a stream's own credential checks: only the
    # bus's message can end node B's stream within seconds.
    node_a, node_b = (live_factory(redis_url=redis_url, event_poll_seconds=30) for _ in range(2))
    scene = make_scene(node_a)
    on_b = node_b.client()
    try:
        headers = {**bearer(scene.visitor_token), "Accept": "text/event-stream"}
        visitor_id = on_b.get("/api/v1/widget/visitor", headers=headers).json()["id"]
        with on_b.stream("GET", "/api/v1/widget/events", headers=headers) as response:
            assert response.status_code == 200
            frames = sse_frames(response)
            assert next(frames).retry is not None
            wait_until(lambda: node_b.parked() == 1, what="node B's stream parked")
            erased = scene.owner_http.delete(
                f"/api/v1/visitors/{visitor_id}", headers=csrf(scene.owner)
            )
            assert erased.status_code == 204, erased.text
            ends_within(frames, 3, "node B's stream outlived the erasure")
        assert response.is_closed
        again = on_b.get("/api/v1/widget/events", headers=headers)
        assert again.status_code == 401
    finally:
        on_b.close()
        scene.close()


def test_without_redis_the_erasing_process_refuses_the_token_at_once(live: Live) -> None:
    """No Redis configured: the cache is kept (the message path reads no token row);
    the process that erases forgets the token itself, so it refuses it at once. (Other
    processes, with nothing to tell them, within the cache's 60 s.)"""
    services = live.app.state.services
    assert isinstance(live.hub.bus, MemoryBus)
    assert services.visitor_cache_trusted is True
    scene = make_scene(live)
    try:
        visitor_id = scene.visitor_http.get(
            "/api/v1/widget/visitor", headers=bearer(scene.visitor_token)
        ).json()["id"]
        erased = scene.owner_http.delete(
            f"/api/v1/visitors/{visitor_id}", headers=csrf(scene.owner)
        )
        assert erased.status_code == 204
        after = scene.visitor_http.get(
            "/api/v1/widget/visitor", headers=bearer(scene.visitor_token)
        )
        assert after.status_code == 401
    finally:
        scene.close()


def test_deleting_a_site_ends_its_visitors_streams_and_no_other(live: Live) -> None:
    """One process: a site's deletion ends its visitors' streams at once; a visitor of
    another site keeps their stream, and it still carries their events."""
    scene = make_scene(live)
    other_site = create_site(scene.owner_http, scene.owner, name="Other")
    other_token = visitor_session(scene.visitor_http, other_site["site_key"], name="Otto")
    other_chat = start_chat(scene.visitor_http, other_token, "Hello from the other site")
    sse = {"Accept": "text/event-stream"}
    gone_headers = {**scene.visitor_headers(), **sse}
    kept_headers = {**bearer(other_token), **sse}
    try:
        with (
            live.client() as gone_http,
            live.client() as kept_http,
            gone_http.stream("GET", "/api/v1/widget/events", headers=gone_headers) as gone,
            kept_http.stream("GET", "/api/v1/widget/events", headers=kept_headers) as kept,
        ):
            assert gone.status_code == kept.status_code == 200
            gone_frames, kept_frames = sse_frames(gone), sse_frames(kept)
            assert next(gone_frames).retry is not None
            assert next(kept_frames).retry is not None
            wait_until(lambda: live.parked() == 2, what="both streams parked")
            deleted = scene.owner_http.delete(
                f"/api/v1/sites/{scene.site['id']}", headers=csrf(scene.owner)
            )
            assert deleted.status_code == 204, deleted.text
            ends_within(gone_frames, 3, "the deleted site's stream lives on")
            assert gone.is_closed

            reply = operator_post(
                scene.owner_http,
                scene.owner,
                other_chat["conversation"]["id"],
                "Still here",
                private=False,
            )
            event = next_event(kept_frames)
            while event.event != "message.created":
                event = next_event(kept_frames)
            assert event.payload["data"]["message"]["id"] == reply["id"]
            assert live.parked() == 1
    finally:
        scene.close()
