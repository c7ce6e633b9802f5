"""Redis down degrades, never fails: with a Redis server of the test's own, stopped and
started again on the same port.

Rate limits fall back to counters in each process (logged once, counted in
``/metrics``), the bus falls back to polling the event log, a node starts and
serves while Redis is down, ``/readyz`` says ``degraded`` with 200, and all of it
recovers by itself once Redis answers again.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from chatdesk.security import rate_limits
from tests.conftest import free_port
from tests.log_guard import LineRecorder, logged
from tests.realtime.conftest import Live, head_of, make_scene, poll, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.live]

WIDGET = "/api/v1/widget/events"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class OwnRedis:
    """A redis-server of this test's own on a loopback port, stoppable and restartable."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not Path(REDIS_SERVER).exists():
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        self.process = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            wait_until(lambda: _answers(client), timeout=10, what="redis-server to answer")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def keys(self, pattern: str) -> list[bytes]:
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            return list(client.keys(pattern))
        finally:
            client.close()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


def new_session(http: httpx.Client, site_key: str) -> int:
    return http.post("/api/v1/widget/sessions", json={"site_key": site_key}).status_code


def readiness(http: httpx.Client) -> tuple[int, dict[str, str]]:
    response = http.get("/readyz")
    checks = response.json()["checks"]
    return response.status_code, {name: check["status"] for name, check in checks.items()}


def local_counts(http: httpx.Client) -> float:
    metrics = http.get("/metrics").text
    [line] = [x for x in metrics.splitlines() if x.startswith("chatdesk_rate_limit_local_counts_")]
    return float(line.split()[-1])


def test_a_node_starts_serves_and_limits_without_redis_then_recovers(
    recorder: LineRecorder,
    own_redis: OwnRedis,
    live_factory: Callable[..., Live],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rate_limits, "RETRY_SECONDS", 1.0)  # try Redis again sooner
    # Redis is not running at all when the node starts.
    node = live_factory(
        redis_url=own_redis.url, rate_limits="on", rate_limit_widget_session="4/minute"
    )
    scene = make_scene(node)
    http = node.client()
    try:
        status, checks = readiness(http)
        assert status == 200 and checks["bus"] == "degraded", checks
        assert http.get("/readyz").json()["status"] == "degraded"
        # Limits still hold, per process: the scene's session and three more, then 429;
        # never a 500.
        started = time.monotonic()
        assert [new_session(http, scene.site["site_key"]) for _ in range(5)] == [201] * 3 + [
            429
        ] * 2
        assert time.monotonic() - started < 5  # no request hangs on the missing Redis
        assert readiness(http)[1]["rate_limits"] == "degraded"
        assert local_counts(http) >= 5
        # And the node serves: a message, seen by the operator.
        scene.visitor_says("Redis is down and I can still write")
        assert len(logged(recorder, "rate limits: Redis does not answer")) == 1
        assert len(logged(recorder, "redis bus: Redis does not answer")) == 1

        own_redis.start()
        time.sleep(1.1)  # the limiter's retry time
        # The next request is counted in Redis again, and readiness is ok again.
        assert new_session(http, scene.site["site_key"]) in (201, 429)
        wait_until(lambda: readiness(http) == (200, _all_ok(readiness(http)[1])), timeout=10)
        assert own_redis.keys("chatdesk-rl*"), "the limits are counted in Redis again"
        assert len(logged(recorder, "rate limits: Redis answers again")) == 1
        wait_until(lambda: bool(logged(recorder, "redis bus: subscribed again")), timeout=5)
        assert not logged(recorder, "Traceback") and not logged(recorder, "unhandled error")
    finally:
        http.close()
        scene.close()


def _all_ok(checks: dict[str, str]) -> dict[str, str]:
    return dict.fromkeys(checks, "ok")


def test_wake_ups_between_nodes_survive_redis_going_away_and_coming_back(
    recorder: LineRecorder, own_redis: OwnRedis, live_factory: Callable[..., Live]
) -> None:
    own_redis.start()
    # A 30 s log poll: while Redis is up, only its wake-up explains a fast delivery.
    node_a = live_factory(redis_url=own_redis.url, event_poll_seconds=30)
    node_b = live_factory(redis_url=own_redis.url, event_poll_seconds=30)
    scene = make_scene(node_a)
    headers = {"Authorization": f"Bearer {scene.visitor_token}"}

    def delivery(words: str) -> float:
        """How long a reply on node A takes to reach the visitor parked on node B."""
        with node_b.client() as http, ThreadPoolExecutor(1) as pool:
            cursor = head_of(http, WIDGET, headers)
            parked = pool.submit(poll, http, WIDGET, headers, cursor, 20)
            wait_until(lambda: node_b.parked() >= 1, what="the poll to park on node B")
            started = time.monotonic()
            scene.operator_says(words)
            got = parked.result(timeout=25)
            took = time.monotonic() - started
        assert [e["data"]["message"]["body"] for e in got["events"]] == [words]
        return took

    try:
        assert delivery("Redis up") < 1
        own_redis.stop()
        # Node B notices the lost subscription and polls the log twice a second instead.
        wait_until(lambda: not node_b.hub.bus.connected, timeout=5, what="B to see Redis gone")
        assert delivery("Redis down") < 2
        with node_b.client() as http:
            status, checks = readiness(http)
        assert status == 200 and checks["bus"] == "degraded"

        own_redis.start()
        wait_until(lambda: node_b.hub.bus.connected, timeout=5, what="B to subscribe again")
        wait_until(lambda: node_a.hub.bus.connected, timeout=5, what="A to subscribe again")
        # Back on the bus (node B polls every 30 s again): fast again.
        assert delivery("Redis back") < 1
        lost = logged(recorder, "redis bus: connection lost")
        assert len(lost) == 2, lost  # once per node, not once per message
        assert len(logged(recorder, "redis publish failed")) <= 1  # node A, once
        assert not logged(recorder, "Traceback")
    finally:
        scene.close()
