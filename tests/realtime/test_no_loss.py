"""The delivery guarantee: every visible event exactly once, in id order, whatever happens.

Concurrent writers (on PostgreSQL also two app instances), a server restart
with writes while it is down, and wake-ups lost on the bus.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from chatdesk.actions.messages import send_message
from chatdesk.db.runner import Database
from chatdesk.security.principals import OperatorActor
from tests.factories import bearer, csrf
from tests.realtime.conftest import (
    Live,
    Scene,
    head_of,
    make_scene,
    next_event,
    poll,
    sse_frames,
    wait_until,
)

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"
WRITERS = 8
PER_WRITER = 40


class Follower(threading.Thread):
    """Follows the event log with long-poll, always passing back the last cursor."""

    def __init__(self, http: httpx.Client, path: str, headers: dict[str, str], after: int):
        super().__init__(daemon=True)
        self.http, self.path, self.headers = http, path, headers
        self.cursor = after
        self.events: list[dict[str, Any]] = []
        self.finish = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                finishing = self.finish.is_set()
                got = poll(
                    self.http, self.path, self.headers, self.cursor, wait=0 if finishing else 2
                )
                assert got["cursor"] >= self.cursor
                self.events.extend(got["events"])
                moved = got["cursor"] != self.cursor
                self.cursor = got["cursor"]
                if finishing and not moved:
                    return
        except BaseException as exc:
            self.error = exc

    def stop(self) -> list[dict[str, Any]]:
        self.finish.set()
        self.join(timeout=60)
        assert not self.is_alive(), "the follower did not finish"
        if self.error is not None:
            raise self.error
        return self.events


def read_all(http: httpx.Client, path: str, headers: dict[str, str], after: int) -> list[Any]:
    """Every stored event after ``after``: ephemeral ones (typing, an operator's presence,
    ``id`` null) that happen to arrive during a poll are no part of the log."""
    seen: list[Any] = []
    while True:
        got = poll(http, path, headers, after)
        seen.extend(event for event in got["events"] if event["id"] is not None)
        if got["cursor"] == after:
            return seen
        after = got["cursor"]


def stored_messages(scene: Scene, conversation_ids: list[str]) -> set[str]:
    """Every message id stored, through the REST history (paged)."""
    found: set[str] = set()
    for conversation_id in conversation_ids:
        before: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200}
            if before:
                params["before"] = before
            page = scene.owner_http.get(
                f"/api/v1/conversations/{conversation_id}/messages", params=params
            ).json()["messages"]
            found |= {m["id"] for m in page}
            if len(page) < 200:
                break
            before = page[0]["id"]
    return found


def assert_exactly_once_in_order(events: list[dict[str, Any]]) -> list[int]:
    ids = [e["id"] for e in events]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert ids == sorted(ids), "events arrived out of id order"
    return ids


def message_ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["data"]["message"]["id"] for e in events if e["type"] == "message.created"}


def writer_jobs(scene: Scene, clients: list[httpx.Client]) -> list[Callable[[], list[str]]]:
    """Two writers per conversation, its visitor and the operator (some private notes).

    Each conversation's writers share one client, so with clients on two app
    instances no row is updated from both: only the event append is shared.
    """
    conversations: list[tuple[str, str]] = [(scene.visitor_token, scene.conversation_id)]
    for n in range(WRITERS // 2 - 1):
        conversations.append(scene.new_visitor(f"Visitor {n}"))
    for http in clients:
        http.cookies.update(scene.owner_http.cookies)  # the operator's session
    jobs: list[Callable[[], list[str]]] = []
    for n in range(WRITERS):
        token, conversation_id = conversations[n // 2]
        http = clients[(n // 2) % len(clients)]

        def job(
            n: int = n, http: httpx.Client = http, token: str = token, cid: str = conversation_id
        ) -> list[str]:
            sent = []
            for i in range(PER_WRITER):
                if n % 2 == 0:
                    response = http.post(
                        f"/api/v1/widget/conversations/{cid}/messages",
                        json={"body": f"v{n}-{i}", "client_msg_id": secrets.token_hex(8)},
                        headers=bearer(token),
                    )
                else:
                    response = http.post(
                        f"/api/v1/conversations/{cid}/messages",
                        json={
                            "body": f"o{n}-{i}",
                            "client_msg_id": secrets.token_hex(8),
                            "private": i % 5 == 0,
                        },
                        headers=csrf(scene.owner),
                    )
                assert response.status_code == 201, response.text
                sent.append(response.json()["id"])
            return sent

        jobs.append(job)
    scene.extra.extend(c for c in clients if c not in scene.extra)
    return jobs


def run_and_follow(scene: Scene, clients: list[httpx.Client], reader: Live) -> None:
    jobs = writer_jobs(scene, clients)
    reader_http = reader.client()
    scene.extra.append(reader_http)
    reader_http.cookies.update(scene.owner_http.cookies)
    start = head_of(reader_http, CONSOLE, {})
    before = message_ids(read_all(reader_http, CONSOLE, {}, 0))
    visitor_start = head_of(reader_http, WIDGET, scene.visitor_headers())
    operator = Follower(reader_http, CONSOLE, {}, start)
    visitor = Follower(reader_http, WIDGET, scene.visitor_headers(), visitor_start)
    operator.start()
    visitor.start()
    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(job) for job in jobs]
        sent = {m for f in futures for m in f.result(timeout=120)}
    seen = operator.stop()
    visitor_seen = visitor.stop()

    assert len(sent) == WRITERS * PER_WRITER
    ids = assert_exactly_once_in_order(seen)
    # What the live follower saw is exactly what a reader finds afterwards: nothing
    # was committed behind its cursor (the out-of-order commit this test exists for).
    assert ids == [e["id"] for e in read_all(reader_http, CONSOLE, {}, start)]
    assert message_ids(seen) == sent
    # ... and the messages it saw are exactly those stored since it started (REST history).
    history = stored_messages(scene, sorted({e["conversation_id"] for e in seen}))
    assert history - before == sent

    visitor_ids = assert_exactly_once_in_order(visitor_seen)
    assert visitor_ids == [
        e["id"] for e in read_all(reader_http, WIDGET, scene.visitor_headers(), visitor_start)
    ]
    assert {e["conversation_id"] for e in visitor_seen} == {scene.conversation_id}
    assert all(not e["data"]["message"]["private"] for e in visitor_seen)
    public_in_mine = {
        e["data"]["message"]["id"]
        for e in seen
        if e["conversation_id"] == scene.conversation_id and not e["data"]["message"]["private"]
    }
    assert message_ids(visitor_seen) == public_in_mine


def test_concurrent_writers_reader_sees_every_event_once_in_order(scene: Scene) -> None:
    clients = [scene.live.client() for _ in range(4)]
    run_and_follow(scene, clients, scene.live)


def test_two_instances_writing_concurrently(live: Live, live_factory: Callable[..., Live]) -> None:
    # On PostgreSQL this is the test that catches out-of-order commits across processes;
    # on SQLite the two writers serialise on BEGIN IMMEDIATE.
    other = live_factory()
    scene = make_scene(live)
    try:
        clients = [live.client(), other.client(), live.client(), other.client()]
        run_and_follow(scene, clients, live)
    finally:
        scene.close()


# -- restarts --------------------------------------------------------------------------


def write_while_down(scene: Scene, bodies: list[str]) -> list[str]:
    """Send messages with the real action through a Database of our own (server down)."""
    actor = OperatorActor(
        operator_id=scene.owner.id,
        name="Owner",
        email=scene.owner.email,
        role="owner",
        site_ids=None,
    )
    db = Database(scene.live.settings.database_url)
    db.start()
    try:
        return [
            db.write_sync(send_message, actor, scene.conversation_id, body, secrets.token_hex(8))[
                0
            ]["id"]
            for body in bodies
        ]
    finally:
        db.stop()


def test_long_poll_resumes_across_a_restart_with_writes_while_down(scene: Scene) -> None:
    headers = scene.visitor_headers()
    cursor = head_of(scene.visitor_http, WIDGET, headers)
    before = scene.operator_says("before the restart")
    got = poll(scene.visitor_http, WIDGET, headers, cursor, wait=5)
    assert message_ids(got["events"]) == {before["id"]}
    cursor = got["cursor"]

    scene.live.server.stop()
    offline = write_while_down(scene, ["while down 1", "while down 2"])
    scene.live.server.start()

    after = scene.operator_says("after the restart")
    seen = read_all(scene.visitor_http, WIDGET, headers, cursor)
    assert_exactly_once_in_order(seen)
    assert [e["data"]["message"]["id"] for e in seen] == [*offline, after["id"]]
    assert seen[0]["id"] > cursor


def test_sse_stream_resumes_across_a_restart_with_last_event_id(scene: Scene) -> None:
    headers = {"Accept": "text/event-stream", **scene.visitor_headers()}
    last_id = ""
    with scene.visitor_http.stream("GET", WIDGET, params={"after": 0}, headers=headers) as resp:
        frames = sse_frames(resp)
        for _ in range(2):
            last_id = next_event(frames).id or ""
        live_reply = scene.operator_says("just before the restart")
        frame = next_event(frames)
        assert frame.payload["data"]["message"]["id"] == live_reply["id"]
        last_id = frame.id or ""
        # The server goes away under the open stream.
        scene.live.server.stop()
        with pytest.raises(httpx.HTTPError):
            for frame in frames:
                assert frame.event is None, "nothing else was written"
    offline = write_while_down(scene, ["offline A", "offline B", "offline C"])
    scene.live.server.start()
    resume = {**headers, "Last-Event-ID": last_id}
    with scene.visitor_http.stream("GET", WIDGET, headers=resume) as resp:
        assert resp.status_code == 200
        frames = sse_frames(resp)
        resumed = [next_event(frames) for _ in offline]
        online = scene.operator_says("after the restart")
        resumed.append(next_event(frames))
    assert [f.payload["data"]["message"]["id"] for f in resumed] == [*offline, online["id"]]
    ids = [int(f.id or 0) for f in resumed]
    assert ids == sorted(set(ids)) and ids[0] > int(last_id)


# -- lost wake-ups ---------------------------------------------------------------------


def park(scene: Scene, pool: ThreadPoolExecutor, wait: float) -> tuple[Any, int]:
    cursor = head_of(scene.visitor_http, WIDGET, scene.visitor_headers())
    future = pool.submit(poll, scene.visitor_http, WIDGET, scene.visitor_headers(), cursor, wait)
    wait_until(lambda: scene.live.parked() >= 1, what="the poll to park")
    return future, cursor


@pytest.fixture
def slow_poll_scene(live_factory: Callable[..., Live]) -> Any:
    """A scene whose hub polls the log only every 30 s: only wake-ups explain speed."""
    made = make_scene(live_factory(event_poll_seconds=30))
    yield made
    made.close()


def test_dropped_wake_up_is_covered_by_the_next_one(slow_poll_scene: Scene) -> None:
    scene = slow_poll_scene
    with ThreadPoolExecutor(1) as pool:
        parked, _cursor = park(scene, pool, 20)
        scene.live.bus.drop_next = 1
        lost = scene.operator_says("wake-up lost")
        # The wake-up is published once the reply is durable, and may leave just after the
        # reply's own response.
        deadline = time.monotonic() + 5
        while scene.live.bus.dropped == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scene.live.bus.dropped == 1
        time.sleep(0.3)
        assert not parked.done(), "nothing but the dropped wake-up could have woken it"
        started = time.monotonic()
        woke = scene.operator_says("wake-up delivered")
        got = parked.result(timeout=5)
        assert time.monotonic() - started < 2  # the hub's own log poll is 30 s away
    assert [e["data"]["message"]["id"] for e in got["events"]] == [lost["id"], woke["id"]]


def test_dropped_wake_up_is_delivered_when_the_wait_ends(slow_poll_scene: Scene) -> None:
    scene = slow_poll_scene
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        parked, _cursor = park(scene, pool, 1.5)
        scene.live.bus.drop_next = 1
        lost = scene.operator_says("wake-up lost")
        got = parked.result(timeout=10)
        elapsed = time.monotonic() - started
    # The handler re-reads the log at its deadline instead of answering "nothing".
    assert [e["data"]["message"]["id"] for e in got["events"]] == [lost["id"]]
    assert 1.3 < elapsed < 4


def test_dropped_wake_up_is_delivered_by_the_hub_poll(scene: Scene) -> None:
    with ThreadPoolExecutor(1) as pool:
        parked, _cursor = park(scene, pool, 20)
        scene.live.bus.drop_next = 1
        started = time.monotonic()
        lost = scene.operator_says("wake-up lost")
        got = parked.result(timeout=10)
        elapsed = time.monotonic() - started
    assert scene.live.bus.dropped == 1
    assert [e["data"]["message"]["id"] for e in got["events"]] == [lost["id"]]
    # event_poll_seconds is 0.5 in the test settings; the poll itself waits up to 20 s.
    assert elapsed < 3


def test_dropped_wake_up_reaches_an_sse_stream(scene: Scene) -> None:
    headers = {"Accept": "text/event-stream", **scene.visitor_headers()}
    with scene.visitor_http.stream("GET", WIDGET, headers=headers) as resp:
        frames = sse_frames(resp)
        assert next(frames).retry is not None
        scene.live.bus.drop_next = 1
        lost = scene.operator_says("wake-up lost")
        # Heartbeats do not read the log; the hub's poll (0.5 s here) finds the event.
        frame = next_event(frames, timeout=5)
    assert frame.payload["data"]["message"]["id"] == lost["id"]
