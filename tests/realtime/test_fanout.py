"""Fan-out: many listeners of each kind, each handed exactly its visible events once,
in id order, from one read of each new event per process.

Operators (owners, an admin, agents limited to sites) and visitors follow the log
over SSE and long-poll while events interleave across sites and visitors (private
notes included), listeners join and leave mid-stream, and bursts committed in one
transaction overflow the listeners' backlogs (one reader is slow as well), so they
fall back to reading the log from their cursor. Each listener's events are then
compared with what the database read (``read_events``) gives its credential.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from chatdesk.actions.messages import send_message
from chatdesk.db.batch import Unit
from chatdesk.db.runner import Database
from chatdesk.security.principals import OperatorActor
from tests.factories import Operator, bearer, create_site, csrf, login
from tests.realtime.conftest import (
    Live,
    Scene,
    head_of,
    operator_post,
    sse_frames,
    start_chat,
    visitor_session,
    wait_until,
)
from tests.realtime.test_no_loss import Follower, assert_exactly_once_in_order, read_all

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"
BACKLOG = 8  # small, so each burst below overflows the backlog of whoever sees it
BURST = 20


class Reader(threading.Thread):
    """One SSE listener, collecting every event frame; resumes with Last-Event-ID."""

    def __init__(
        self,
        http: httpx.Client,
        path: str,
        headers: dict[str, str],
        after: int,
        *,
        slow: float = 0.0,
    ) -> None:
        super().__init__(daemon=True)
        self.http, self.path, self.headers = http, path, headers
        self.after, self.slow = after, slow
        self.events: list[dict[str, Any]] = []
        self.leave = threading.Event()
        self.stop_at: int | None = None
        self.error: BaseException | None = None

    @property
    def last_id(self) -> int:
        return int(self.events[-1]["id"]) if self.events else self.after

    def run(self) -> None:
        headers = {**self.headers, "Accept": "text/event-stream"}
        if self.after is not None:
            headers["Last-Event-ID"] = str(self.after)
        try:
            with self.http.stream("GET", self.path, headers=headers) as response:
                assert response.status_code == 200, response.read()
                for frame in sse_frames(response):
                    if frame.id is not None:  # stored events only (typing has no id)
                        self.events.append(frame.payload)
                        if self.slow:
                            time.sleep(self.slow)
                    if self.leave.is_set():
                        return
                    if self.stop_at is not None and self.last_id >= self.stop_at:
                        return
        except BaseException as exc:
            self.error = exc

    def finish(self, expected_last: int) -> list[dict[str, Any]]:
        self.stop_at = expected_last
        self.join(timeout=60)
        assert not self.is_alive(), f"{self.path} did not reach event {expected_last}"
        if self.error is not None:
            raise self.error
        return self.events


def burst(
    unit: Unit, actor: OperatorActor, conversation_id: str, count: int
) -> list[tuple[Any, bool]]:
    """``count`` replies in one transaction, every third a private note: one commit
    that hands the hub more events at once than a listener's backlog holds."""
    return [
        send_message(
            unit, actor, conversation_id, f"burst {n}", secrets.token_hex(8), private=n % 3 == 0
        )
        for n in range(count)
    ]


def add_operator(scene: Scene, role: str, site_ids: list[str]) -> tuple[httpx.Client, Operator]:
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    password = f"{role}-" + secrets.token_urlsafe(12)
    body: dict[str, Any] = {
        "email": email,
        "name": role.title(),
        "role": role,
        "password": password,
    }
    if role == "agent":
        body["site_ids"] = site_ids
    response = scene.owner_http.post("/api/v1/operators", json=body, headers=csrf(scene.owner))
    assert response.status_code == 201, response.text
    http = scene.live.client()
    scene.extra.append(http)
    return http, login(http, Operator(response.json()["id"], email, password, role))


def test_fan_out_hands_each_listener_exactly_its_events(scene: Scene) -> None:
    live = scene.live
    live.hub.backlog = BACKLOG
    site_a = scene.site
    site_b = create_site(scene.owner_http, scene.owner, name="Shop B")
    site_c = create_site(scene.owner_http, scene.owner, name="Shop C")
    admin_http, admin = add_operator(scene, "admin", [])
    agent_a_http, agent_a = add_operator(scene, "agent", [site_a["id"]])
    agent_bc_http, agent_bc = add_operator(scene, "agent", [site_b["id"], site_c["id"]])

    # Two visitors (each with a conversation) per site.
    visitors: list[tuple[str, str, str]] = [
        (scene.visitor_token, scene.conversation_id, site_a["id"])
    ]
    for site, name in ((site_a, "Ann"), (site_b, "Bea"), (site_b, "Bo"), (site_c, "Cy")):
        token = visitor_session(scene.visitor_http, site["site_key"], name=name)
        started = start_chat(scene.visitor_http, token, f"Hello from {name}")
        visitors.append((token, started["conversation"]["id"], site["id"]))
    start = head_of(scene.owner_http, CONSOLE, {})

    def client_like(http: httpx.Client) -> httpx.Client:
        made = live.client()
        made.cookies.update(http.cookies)
        scene.extra.append(made)
        return made

    # (name, reader-making function, credential client and headers for the check).
    operators = [
        ("owner", scene.owner_http),
        ("admin", admin_http),
        ("agent A", agent_a_http),
        ("agent BC", agent_bc_http),
    ]
    checks: dict[str, tuple[httpx.Client, str, dict[str, str]]] = {}
    readers: dict[str, list[Reader]] = {}
    followers: dict[str, Follower] = {}

    def sse(
        name: str,
        http: httpx.Client,
        path: str,
        headers: dict[str, str],
        after: int,
        slow: float = 0.0,
    ) -> Reader:
        reader = Reader(client_like(http), path, headers, after, slow=slow)
        readers.setdefault(name, []).append(reader)
        reader.start()
        return reader

    for name, http in operators:
        checks[name] = (http, CONSOLE, {})
        for _ in range(2):
            sse(name, http, CONSOLE, {}, start)
    sse("owner", scene.owner_http, CONSOLE, {}, start, slow=0.01)
    for n, (token, _cid, _site) in enumerate(visitors):
        name = f"visitor {n}"
        checks[name] = (scene.visitor_http, WIDGET, bearer(token))
        sse(name, scene.visitor_http, WIDGET, bearer(token), start)
        follower = Follower(client_like(scene.visitor_http), WIDGET, bearer(token), start)
        followers[name] = follower
        follower.start()
    first_wave = sum(len(group) for group in readers.values()) + len(followers)
    wait_until(lambda: live.parked() >= first_wave, what="every listener to park")

    def writes(round_: int) -> None:
        """Visitors and operators writing at once, across sites; some private notes."""
        clients = {
            site_a["id"]: (agent_a_http, agent_a),
            site_b["id"]: (agent_bc_http, agent_bc),
            site_c["id"]: (admin_http, admin),
        }

        def one(n: int) -> None:
            token, cid, site_id = visitors[n % len(visitors)]
            if n % 2:
                response = scene.visitor_http.post(
                    f"/api/v1/widget/conversations/{cid}/messages",
                    json={"body": f"r{round_} v{n}", "client_msg_id": secrets.token_hex(8)},
                    headers=bearer(token),
                )
                assert response.status_code == 201, response.text
            else:
                http, who = clients[site_id]
                operator_post(http, who, cid, f"r{round_} o{n}", private=n % 4 == 0)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(24)))

    owner_actor = OperatorActor(
        operator_id=scene.owner.id,
        name="Owner",
        email=scene.owner.email,
        role="owner",
        site_ids=None,
    )
    db = Database(live.settings.database_url)  # a second writer: bursts in one commit
    db.start()
    try:
        writes(1)
        # Mid-stream: one owner stream and one visitor stream leave (resumed later with
        # Last-Event-ID); new listeners join with the old cursor (they catch up first).
        leaving = [readers["owner"][0], readers["visitor 1"][0]]
        for reader in leaving:
            reader.leave.set()
        sse("owner", scene.owner_http, CONSOLE, {}, start)
        sse("agent A", agent_a_http, CONSOLE, {}, start)
        sse("visitor 3", scene.visitor_http, WIDGET, bearer(visitors[3][0]), start)
        overflows = live.hub.overflows
        db.write_sync(burst, owner_actor, visitors[0][1], BURST)  # site A, a visitor's
        db.write_sync(burst, owner_actor, visitors[2][1], BURST)  # site B
        writes(2)
        wait_until(lambda: live.hub.overflows > overflows, what="a backlog to overflow")
        for reader in leaving:
            reader.join(timeout=30)
            assert not reader.is_alive()
            resumed = Reader(client_like(reader.http), reader.path, reader.headers, reader.last_id)
            resumed.events = list(reader.events)  # one client: what it had, then the rest
            group = next(group for group in readers.values() if reader in group)
            group[group.index(reader)] = resumed
            resumed.start()
        db.write_sync(burst, owner_actor, visitors[4][1], BURST)  # site B again
        writes(3)
    finally:
        db.stop()

    assert live.hub.overflows > overflows
    for name, (http, path, headers) in checks.items():
        expected = read_all(http, path, headers, start)
        expected_ids = [e["id"] for e in expected]
        assert expected_ids, name
        for reader in readers.get(name, []):
            got = reader.finish(expected_ids[-1])
            assert assert_exactly_once_in_order(got) == expected_ids, name
            assert got == expected, name  # the same shape as the database read gives
        if name in followers:
            got = followers[name].stop()
            assert assert_exactly_once_in_order(got) == expected_ids, name
            assert got == expected, name

    # The rule itself, spot-checked: no private note reached a visitor; an agent saw
    # only its sites' conversations.
    for n, (_token, cid, _site) in enumerate(visitors):
        seen = read_all(*checks[f"visitor {n}"], start)
        assert {e["conversation_id"] for e in seen} == {cid}
        assert not any(e["data"].get("message", {}).get("private") for e in seen)
    agent_a_sees = {e["conversation_id"] for e in read_all(*checks["agent A"], start)}
    assert agent_a_sees == {cid for _t, cid, site in visitors if site == site_a["id"]}


def _event_reads(live: Live) -> dict[str, float]:
    text = live.client().get("/metrics").text
    found = re.findall(r'^chatdesk_event_reads_total\{reason="(\w+)"\} ([0-9.e+]+)$', text, re.M)
    return {reason: float(value) for reason, value in found}


@pytest.mark.parametrize("streams", [1, 12])
def test_reads_per_message_do_not_grow_with_listeners(scene: Scene, streams: int) -> None:
    live = scene.live
    start = head_of(scene.owner_http, CONSOLE, {})
    readers = []
    for _ in range(streams):
        http = live.client()
        http.cookies.update(scene.owner_http.cookies)
        scene.extra.append(http)
        readers.append(Reader(http, CONSOLE, {}, start))
    visitor_http = live.client()
    scene.extra.append(visitor_http)
    readers.append(Reader(visitor_http, WIDGET, scene.visitor_headers(), start))
    for reader in readers:
        reader.start()
    wait_until(lambda: live.parked() >= streams + 1, what="the streams to park")
    time.sleep(0.2)  # past their connect reads
    before = _event_reads(live)
    messages = 20
    for n in range(messages):
        sent = scene.visitor_says(f"message {n}")
        # Each message is delivered to every stream before the next one is sent.
        wait_until(
            lambda sent=sent: all(
                r.events and r.events[-1]["data"].get("message", {}).get("id") == sent["id"]
                for r in readers
            ),
            what="every stream to get the message",
        )
    after = _event_reads(live)
    head = head_of(scene.owner_http, CONSOLE, {})
    for reader in readers:
        reader.finish(head)
    # No listener read the log itself: each message's events were read once, by the hub.
    assert after["catch_up"] == before["catch_up"]
    assert after["fetch"] - before["fetch"] <= messages * 1.5
