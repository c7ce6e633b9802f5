"""An erased visitor's token stops working in every process: two servers on one
database and one Redis bus; the token is cached by the server that did not erase."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from chatdesk.realtime.bus import MemoryBus
from tests.factories import bearer, csrf
from tests.realtime.conftest import REDIS_URL, Live, make_scene


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
