"""The bus contract, run against every backend, and Redis fan-out across app instances."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis

from chatdesk.realtime.bus import Bus, MemoryBus, Message, RedisBus, make_bus
from tests.conftest import free_port
from tests.event_loops import run_coroutine
from tests.factories import csrf
from tests.realtime.conftest import (
    REDIS_URL,
    Live,
    delivery_delays,
    head_of,
    make_scene,
    poll,
    wait_until,
)

WIDGET = "/api/v1/widget/events"


@pytest.fixture
def redis_url() -> str:
    """The test Redis; unreachable is a failure, never a skip."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest) -> Callable[[], Bus]:
    if request.param == "memory":
        return MemoryBus
    url = request.getfixturevalue("redis_url")
    return lambda: RedisBus(url)


class Inbox:
    """What a handler received, filtered to this test's messages (a shared Redis may carry
    other runs' traffic on the same channel)."""

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.got: list[Message] = []
        self.arrived = asyncio.Event()

    def __call__(self, message: Message) -> None:
        if message.get("nonce") == self.nonce:
            self.got.append(message)
            self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Message]:
        async with asyncio.timeout(timeout):
            while len(self.got) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.got


async def subscribed(bus: Bus, inbox: Inbox) -> None:
    """Publish probes until one comes back: Redis SUBSCRIBE is asynchronous, and only
    messages published after it took effect are promised."""
    async with asyncio.timeout(5):
        while not any(m.get("probe") for m in inbox.got):
            await bus.publish({"kind": "probe", "probe": True, "nonce": inbox.nonce})
            await asyncio.sleep(0.01)
    inbox.got.clear()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    run_coroutine(scenario)


def test_publish_reaches_the_handler_in_order(make: Callable[[], Bus]) -> None:
    async def scenario() -> None:
        bus = make()
        inbox = Inbox(secrets.token_hex(8))
        await bus.start(inbox)
        try:
            await subscribed(bus, inbox)
            sent = [
                {"kind": "event", "id": n, "nonce": inbox.nonce, "keys": [["v", "x"]]}
                for n in range(1, 21)
            ]
            for message in sent:
                await bus.publish(message)
            assert await inbox.wait_for(len(sent)) == sent
        finally:
            await bus.stop()

    run(scenario)


def test_messages_are_ephemeral(make: Callable[[], Bus]) -> None:
    async def scenario() -> None:
        nonce = secrets.token_hex(8)
        early = make()
        await early.start(lambda _m: None)
        await early.publish({"kind": "event", "id": 1, "nonce": nonce})  # nobody of ours yet
        late = make() if not isinstance(early, MemoryBus) else early
        inbox = Inbox(nonce)
        await late.start(inbox)
        try:
            await subscribed(late, inbox)
            await late.publish({"kind": "event", "id": 2, "nonce": nonce})
            got = await inbox.wait_for(1)
            await asyncio.sleep(0.1)
            assert [m["id"] for m in got] == [2]  # the earlier one was not kept for us
        finally:
            await late.stop()
            if late is not early:
                await early.stop()
        # Stopping a bus that never started is harmless.
        stopped = make()
        await stopped.stop()

    run(scenario)


def test_ping(make: Callable[[], Bus]) -> None:
    async def scenario() -> None:
        bus = make()
        await bus.start(lambda _m: None)
        try:
            assert await bus.ping() is True
        finally:
            await bus.stop()

    run(scenario)


def test_make_bus_picks_the_backend(redis_url: str) -> None:
    async def scenario() -> None:
        memory, remote = make_bus(None), make_bus(redis_url)
        assert isinstance(memory, MemoryBus)
        assert isinstance(remote, RedisBus)
        await remote.stop()

    run(scenario)


@pytest.mark.redis
def test_redis_bus_reaches_other_processes(redis_url: str) -> None:
    async def scenario() -> None:
        nonce = secrets.token_hex(8)
        sender, receiver = RedisBus(redis_url), RedisBus(redis_url)
        inbox = Inbox(nonce)
        await receiver.start(inbox)
        await sender.start(lambda _m: None)
        try:
            await subscribed(sender, inbox)
            await sender.publish({"kind": "event", "id": 7, "nonce": nonce})
            assert [m["id"] for m in await inbox.wait_for(1)] == [7]
        finally:
            await sender.stop()
            await receiver.stop()

    run(scenario)


@pytest.mark.redis
def test_unreachable_redis_pings_false_and_publish_does_not_raise() -> None:
    async def scenario() -> None:
        bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0")
        try:
            assert await bus.ping() is False
            await bus.publish({"kind": "event", "id": 1})  # logged; pollers catch up
        finally:
            await bus.stop()

    run(scenario)


# -- two app instances over Redis --------------------------------------------------------


@pytest.fixture
def two_nodes(redis_url: str, live_factory: Callable[..., Live]) -> Iterator[tuple[Live, Live]]:
    # A 30 s log poll: only the Redis wake-up can explain a fast delivery.
    yield (
        live_factory(redis_url=redis_url, event_poll_seconds=30),
        live_factory(redis_url=redis_url, event_poll_seconds=30),
    )


def park_on(
    node: Live, http: httpx.Client, token: str, wait: float, pool: ThreadPoolExecutor
) -> tuple[Any, int]:
    headers = {"Authorization": f"Bearer {token}"}
    cursor = head_of(http, WIDGET, headers)
    future = pool.submit(poll, http, WIDGET, headers, cursor, wait)
    wait_until(lambda: node.parked() >= 1, what="the poll to park on node B")
    return future, cursor


@pytest.mark.redis
@pytest.mark.live
def test_message_on_node_a_wakes_a_long_poll_on_node_b(two_nodes: tuple[Live, Live]) -> None:
    node_a, node_b = two_nodes
    scene = make_scene(node_a)
    try:
        with node_b.client() as http:
            delays = delivery_delays(
                node_b,
                http,
                WIDGET,
                scene.visitor_headers(),
                lambda: scene.operator_says("from node A"),
            )
        median = delays[len(delays) // 2]
        assert median < 0.2, f"node B woke after {[round(d * 1000) for d in delays]} ms"
        assert delays[-1] < 5  # far below node B's 30 s log poll: only Redis woke it
    finally:
        scene.close()


@pytest.mark.redis
@pytest.mark.live
def test_typing_on_node_a_reaches_node_b(two_nodes: tuple[Live, Live]) -> None:
    node_a, node_b = two_nodes
    scene = make_scene(node_a)
    try:
        with ThreadPoolExecutor(1) as pool, node_b.client() as http:
            parked, cursor = park_on(node_b, http, scene.visitor_token, 20, pool)
            response = scene.owner_http.post(
                f"/api/v1/conversations/{scene.conversation_id}/typing",
                headers=csrf(scene.owner),
            )
            assert response.status_code == 204
            got = parked.result(timeout=5)
        assert got["cursor"] == cursor
        assert [(e["type"], e["id"]) for e in got["events"]] == [("typing", None)]
    finally:
        scene.close()
