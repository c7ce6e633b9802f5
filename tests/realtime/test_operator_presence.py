"""Operator presence on live servers: a console stream makes its operator online, a grace
period covers a reconnect, colleagues get ``operator.presence`` events and visitors never
do, the widget's ``online`` follows who answers the site; and across two nodes on one
Redis bus (ADR 0015)."""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from chatdesk.actions.operators import create_operator
from tests.factories import Operator, csrf, login
from tests.realtime.conftest import (
    OWNER_PASSWORD,
    REDIS_URL,
    Live,
    Scene,
    _owner_hash,
    make_scene,
    sse_frames,
    wait_until,
)

pytestmark = pytest.mark.live

CONSOLE = "/api/v1/events"
WIDGET = "/api/v1/widget/events"
# Long enough for a console's reconnect to land within it on a loaded machine (two
# test passes side by side): a reconnect through another node once took 1.3 s there.
GRACE = 3.0


class Watcher:
    """An SSE stream read on a thread of its own: its events pile up in a queue. It ends
    (and the server sees its client leave) at the first frame after :meth:`close`."""

    def __init__(self, http: httpx.Client, path: str, headers: dict[str, str] | None = None):
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(http, path, headers or {}), daemon=True
        )
        self._thread.start()
        assert self.opened.wait(10), "the stream did not open"

    def _run(self, http: httpx.Client, path: str, headers: dict[str, str]) -> None:
        sse = {"Accept": "text/event-stream", **headers}
        with http.stream("GET", path, headers=sse) as response:
            assert response.status_code == 200
            self.opened.set()
            for frame in sse_frames(response):
                if self._stop.is_set():
                    return
                if frame.event is not None:
                    self.events.put(frame.payload)

    def next(self, match: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        """The next event that ``match`` accepts (the others are kept in :attr:`seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event; saw {self.seen}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(event)
            if match(event):
                return event

    def drain(self) -> list[dict[str, Any]]:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the stream did not end"


def presence_of(operator_id: str, presence: str) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        return event["type"] == "operator.presence" and event["data"] == {
            "operator_id": operator_id,
            "presence": presence,
        }

    return match


def presence_events(events: list[dict[str, Any]], operator_id: str) -> list[str]:
    return [
        e["data"]["presence"]
        for e in events
        if e["type"] == "operator.presence" and e["data"]["operator_id"] == operator_id
    ]


def add_person(live: Live, role: str, name: str, site_ids: list[str] | None = None) -> Operator:
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    shape = live.db.write_sync(
        create_operator,
        None,
        email=email,
        name=name,
        role=role,
        password_hash=_owner_hash(),
        site_ids=site_ids,
    )
    return Operator(shape["id"], email, OWNER_PASSWORD, role)


def signed_in(
    live: Live, role: str, name: str, site_ids: list[str] | None = None
) -> tuple[httpx.Client, Operator]:
    http = live.client()
    return http, login(http, add_person(live, role, name, site_ids))


def shown(http: httpx.Client, operator_id: str) -> str:
    """``operator_id``'s presence as ``http``'s admin sees it in GET /operators."""
    response = http.get("/api/v1/operators")
    assert response.status_code == 200, response.text
    found = [o["presence"] for o in response.json()["operators"] if o["id"] == operator_id]
    assert found, operator_id
    return str(found[0])


def set_presence(http: httpx.Client, operator: Operator, presence: str) -> dict[str, Any]:
    response = http.patch("/api/v1/auth/me", json={"presence": presence}, headers=csrf(operator))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["operator"]
    return result


@pytest.fixture
def node(live_factory: Callable[..., Live]) -> Live:
    return live_factory(presence_grace_seconds=GRACE)


@pytest.fixture
def scene_on(node: Live) -> Iterator[Scene]:
    made = make_scene(node)
    yield made
    made.close()


def test_a_console_stream_makes_its_operator_online_until_the_grace_after_it_closes(
    node: Live, scene_on: Scene
) -> None:
    owner_http = scene_on.owner_http
    agent_http, agent = signed_in(node, "agent", "Ada")
    try:
        assert shown(owner_http, agent.id) == "offline"
        stream = Watcher(agent_http, CONSOLE)
        assert shown(owner_http, agent.id) == "online"
        team = agent_http.get("/api/v1/team").json()["operators"]
        for member in team:
            assert member.pop("avatar_url").startswith(f"/avatars/{member['id']}?v=")
        assert {"id": agent.id, "name": "Ada", "role": "agent", "presence": "online"} in team
        me = agent_http.get("/api/v1/auth/me").json()["operator"]
        assert me["presence"] == "online"
        parked = node.parked()
        stream.close()
        wait_until(lambda: node.parked() < parked, what="the server to see the stream end")
        closed = time.monotonic()
        assert shown(owner_http, agent.id) == "online"  # within the grace
        wait_until(lambda: shown(owner_http, agent.id) == "offline", timeout=GRACE + 5)
        assert time.monotonic() - closed >= GRACE * 0.8
    finally:
        agent_http.close()


def test_a_parked_long_poll_counts_and_an_api_token_does_not(node: Live, scene_on: Scene) -> None:
    owner_http = scene_on.owner_http
    agent_http, agent = signed_in(node, "agent", "Ada")
    try:
        # A poll that answers at once (wait=0, how consoles find the head) is no console.
        assert agent_http.get(CONSOLE, params={"wait": 0}).status_code == 200
        assert shown(owner_http, agent.id) == "offline"
        done = threading.Event()

        def park() -> None:
            agent_http.get(CONSOLE, params={"wait": 3})
            done.set()

        threading.Thread(target=park, daemon=True).start()
        wait_until(lambda: shown(owner_http, agent.id) == "online", what="the poll to count")
        assert done.wait(10)
        wait_until(lambda: shown(owner_http, agent.id) == "offline", timeout=GRACE + 5)

        made = owner_http.post(
            "/api/v1/api-tokens",
            json={"name": "Integration", "role": "admin"},
            headers=csrf(scene_on.owner),
        )
        token = made.json()["token"]
        with node.client() as integration:
            stream = Watcher(integration, CONSOLE, {"Authorization": f"Bearer {token}"})
            time.sleep(0.3)
            assert shown(owner_http, scene_on.owner.id) == "offline"
            stream.close()
    finally:
        agent_http.close()


def test_colleagues_see_presence_change_live_and_visitors_never(
    node: Live, scene_on: Scene
) -> None:
    owner_http = scene_on.owner_http
    agent_http, agent = signed_in(node, "agent", "Ada")
    colleague = Watcher(owner_http, CONSOLE)
    visitor = Watcher(scene_on.visitor_http, WIDGET, scene_on.visitor_headers())
    try:
        agent_stream = Watcher(agent_http, CONSOLE)
        event = colleague.next(presence_of(agent.id, "online"))
        assert (event["id"], event["conversation_id"]) == (None, None)

        assert set_presence(agent_http, agent, "away")["presence"] == "away"
        colleague.next(presence_of(agent.id, "away"))
        assert shown(owner_http, agent.id) == "away"
        assert set_presence(agent_http, agent, "online")["presence"] == "online"
        colleague.next(presence_of(agent.id, "online"))

        agent_stream.close()
        colleague.next(presence_of(agent.id, "offline"), timeout=GRACE + 5)
        # Away while offline: shown as away, told as away.
        assert set_presence(agent_http, agent, "away")["presence"] == "away"
        colleague.next(presence_of(agent.id, "away"))

        # Something the visitor does see, sent last: every earlier event has arrived.
        said = scene_on.operator_says("Still here")
        visitor.next(
            lambda e: e["type"] == "message.created" and e["data"]["message"]["id"] == said["id"]
        )
        assert [e for e in visitor.drain() if e["type"] == "operator.presence"] == []
        assert presence_events(colleague.drain(), agent.id) == [
            "online",
            "away",
            "online",
            "offline",
            "away",
        ]
    finally:
        colleague.close()
        visitor.close()
        agent_http.close()


def test_a_reconnect_within_the_grace_does_not_flicker(node: Live, scene_on: Scene) -> None:
    agent_http, agent = signed_in(node, "agent", "Ada")
    colleague = Watcher(scene_on.owner_http, CONSOLE)
    try:
        first = Watcher(agent_http, CONSOLE)
        colleague.next(presence_of(agent.id, "online"))
        parked = node.parked()
        first.close()
        wait_until(lambda: node.parked() < parked, what="the first stream to end")
        second = Watcher(agent_http, CONSOLE)
        time.sleep(GRACE + 0.5)  # past the first stream's grace
        assert shown(scene_on.owner_http, agent.id) == "online"
        second.close()
        colleague.next(presence_of(agent.id, "offline"), timeout=GRACE + 5)
        assert presence_events(colleague.drain(), agent.id) == ["online", "offline"]
    finally:
        colleague.close()
        agent_http.close()


def _config_online(http: httpx.Client, site_key: str) -> bool:
    response = http.get("/api/v1/widget/config", params={"site_key": site_key})
    assert response.status_code == 200, response.text
    return bool(response.json()["site"]["online"])


def test_the_widget_is_online_while_someone_who_answers_the_site_is(
    node: Live, scene_on: Scene
) -> None:
    owner_http, owner = scene_on.owner_http, scene_on.owner
    site = scene_on.site
    other = owner_http.post("/api/v1/sites", json={"name": "Other"}, headers=csrf(owner)).json()
    response = owner_http.patch(
        f"/api/v1/sites/{site['id']}", json={"require_agent_online": True}, headers=csrf(owner)
    )
    assert response.status_code == 200, response.text
    key = site["site_key"]
    http = scene_on.visitor_http
    elsewhere_http, _elsewhere = signed_in(node, "agent", "Eli", site_ids=[other["id"]])
    member_http, member = signed_in(node, "agent", "Mia", site_ids=[site["id"]])
    admin_http, _admin = signed_in(node, "admin", "Abe")
    streams: list[Watcher] = []
    try:
        assert _config_online(http, key) is False  # nobody has a console open
        streams.append(Watcher(elsewhere_http, CONSOLE))
        assert _config_online(http, key) is False  # an agent of another site only

        member_stream = Watcher(member_http, CONSOLE)
        assert _config_online(http, key) is True
        set_presence(member_http, member, "away")
        assert _config_online(http, key) is False  # away is not online
        set_presence(member_http, member, "online")
        assert _config_online(http, key) is True
        member_stream.close()
        wait_until(lambda: not _config_online(http, key), timeout=GRACE + 5)

        streams.append(Watcher(admin_http, CONSOLE))  # admins answer every site
        assert _config_online(http, key) is True
        # A site that does not ask for it is online whoever is connected.
        assert _config_online(http, other["site_key"]) is True
    finally:
        for stream in streams:
            stream.close()
        for client in (elsewhere_http, member_http, admin_http):
            client.close()


# -- two nodes on one Redis bus ---------------------------------------------------------


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


@pytest.fixture
def two_nodes(redis_url: str, live_factory: Callable[..., Live]) -> tuple[Live, Live]:
    # Slow announcements and log polls: only the census sent on a change can explain
    # a fast update on the other node.
    settings = {
        "redis_url": redis_url,
        "event_poll_seconds": 30,
        "presence_grace_seconds": GRACE,
        "presence_announce_seconds": 30,
    }
    return live_factory(**settings), live_factory(**settings)


@pytest.mark.redis
def test_presence_is_shared_across_nodes(two_nodes: tuple[Live, Live]) -> None:
    node_a, node_b = two_nodes
    scene = make_scene(node_a)
    agent_on_a, agent = signed_in(node_a, "agent", "Ada")
    agent_on_b = node_b.client()
    agent_on_b.cookies = agent_on_a.cookies
    owner_on_b = node_b.client()
    owner_on_b.cookies = scene.owner_http.cookies
    colleague_on_b = Watcher(owner_on_b, CONSOLE)
    colleague_on_a = Watcher(scene.owner_http, CONSOLE)
    try:
        stream = Watcher(agent_on_a, CONSOLE)
        started = time.monotonic()
        colleague_on_b.next(presence_of(agent.id, "online"))
        assert time.monotonic() - started < 5  # far below the 30 s announcements
        assert shown(owner_on_b, agent.id) == "online"

        # Set on node B, seen on node A's streams (and the reverse for the owner).
        assert set_presence(agent_on_b, agent, "away")["presence"] == "away"
        colleague_on_a.next(presence_of(agent.id, "away"))
        assert shown(scene.owner_http, agent.id) == "away"
        set_presence(agent_on_b, agent, "online")
        colleague_on_a.next(presence_of(agent.id, "online"))

        stream.close()
        colleague_on_b.next(presence_of(agent.id, "offline"), timeout=GRACE + 5)
        assert shown(owner_on_b, agent.id) == "offline"
        assert presence_events(colleague_on_b.drain(), agent.id) == [
            "online",
            "away",
            "online",
            "offline",
        ]
    finally:
        colleague_on_a.close()
        colleague_on_b.close()
        for http in (agent_on_a, agent_on_b, owner_on_b):
            http.close()
        scene.close()


@pytest.mark.redis
def test_a_console_moving_to_another_node_does_not_flicker(two_nodes: tuple[Live, Live]) -> None:
    node_a, node_b = two_nodes
    scene = make_scene(node_a)
    agent_on_a, agent = signed_in(node_a, "agent", "Ada")
    agent_on_b = node_b.client()
    agent_on_b.cookies = agent_on_a.cookies
    colleague = Watcher(scene.owner_http, CONSOLE)
    try:
        first = Watcher(agent_on_a, CONSOLE)
        colleague.next(presence_of(agent.id, "online"))
        parked = node_a.parked()
        first.close()
        wait_until(lambda: node_a.parked() < parked, what="the stream on node A to end")
        second = Watcher(agent_on_b, CONSOLE)  # the console reconnects through node B
        time.sleep(GRACE + 0.5)
        assert shown(scene.owner_http, agent.id) == "online"
        second.close()
        colleague.next(presence_of(agent.id, "offline"), timeout=GRACE + 5)
        assert presence_events(colleague.drain(), agent.id) == ["online", "offline"]
    finally:
        colleague.close()
        agent_on_a.close()
        agent_on_b.close()
        scene.close()


@pytest.mark.redis
def test_a_node_that_dies_without_a_goodbye_is_forgotten(
    redis_url: str, live_factory: Callable[..., Live]
) -> None:
    node = live_factory(
        redis_url=redis_url, presence_grace_seconds=0.2, presence_announce_seconds=0.2
    )
    scene = make_scene(node)
    agent = add_person(node, "agent", "Ada")
    colleague = Watcher(scene.owner_http, CONSOLE)
    bus = redis.Redis.from_url(redis_url)
    channel = node.hub.bus.channel  # type: ignore[attr-defined]
    try:
        # Another process says it holds Ada's console, once, and is never heard again.
        census = {"kind": "presence", "node": "gone", "seq": 1, "ttl": 1.0, "operators": [agent.id]}
        bus.publish(channel, json.dumps(census))
        colleague.next(presence_of(agent.id, "online"))
        started = time.monotonic()
        assert shown(scene.owner_http, agent.id) == "online"
        colleague.next(presence_of(agent.id, "offline"), timeout=10)
        assert time.monotonic() - started >= 0.8  # its census held for its ttl
    finally:
        bus.close()
        colleague.close()
        scene.close()
