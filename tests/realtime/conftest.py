"""Real-time fixtures: live servers whose app we keep, HTTP parties, and an SSE reader.

Streaming and long-poll need a real loopback server (the ASGI test transport
buffers whole responses), so these tests talk to uvicorn with httpx.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from chatdesk.actions.operators import create_operator
from chatdesk.app import create_app
from chatdesk.db.runner import Database
from chatdesk.realtime.bus import MemoryBus
from chatdesk.realtime.hub import Hub
from chatdesk.security.passwords import hash_password
from chatdesk.settings import Settings
from tests.conftest import SERVED_PROTOCOL, LiveServer
from tests.factories import Operator, bearer, create_site, csrf, login

T = TypeVar("T")
REDIS_URL = os.environ.get("CHATDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TIMEOUT = httpx.Timeout(20.0, connect=5.0)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll a cheap in-process condition (e.g. the hub's parked count) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.005)


class Live:
    """A live server plus the app instance currently serving (a restart builds a new one)."""

    def __init__(self, settings: Settings, protocol: Any = SERVED_PROTOCOL) -> None:
        self.settings = settings
        self.apps: list[FastAPI] = []
        self.server = LiveServer(self._make, protocol)

    def _make(self) -> FastAPI:
        app = create_app(self.settings)
        self.apps.append(app)
        return app

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def app(self) -> FastAPI:
        return self.apps[-1]

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.services.hub
        return hub

    @property
    def db(self) -> Database:
        db: Database = self.app.state.services.db
        return db

    @property
    def bus(self) -> MemoryBus:
        bus = self.hub.bus
        assert isinstance(bus, MemoryBus)
        return bus

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=TIMEOUT)

    def parked(self) -> int:
        return self.hub.parked


@pytest.fixture
def quiet_settings(settings: Settings) -> Settings:
    """The test settings with rate limits off and stream caps raised: these tests send
    bursts and park many listeners for one visitor on purpose."""
    return settings.model_copy(
        update={"rate_limits": "off", "max_streams_visitor": 100, "max_streams_operator": 100}
    )


@pytest.fixture
def live(quiet_settings: Settings) -> Iterator[Live]:
    server = Live(quiet_settings)
    server.server.start()
    yield server
    server.server.stop()


@pytest.fixture
def live_factory(quiet_settings: Settings) -> Iterator[Callable[..., Live]]:
    """More live servers (same database), with setting overrides: ``live_factory(x=1)``."""
    started: list[Live] = []

    def make(**overrides: Any) -> Live:
        server = Live(quiet_settings.model_copy(update=overrides))
        server.server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.server.stop()


@dataclass
class Scene:
    """Over HTTP on a live server: a signed-in owner, a site, a visitor and its conversation."""

    live: Live
    owner_http: httpx.Client
    owner: Operator
    site: dict[str, Any]
    visitor_http: httpx.Client
    visitor_token: str
    conversation_id: str
    extra: list[httpx.Client] = field(default_factory=list)

    def visitor_headers(self) -> dict[str, str]:
        return bearer(self.visitor_token)

    def visitor_says(self, body: str, client_msg_id: str | None = None) -> dict[str, Any]:
        response = self.visitor_http.post(
            f"/api/v1/widget/conversations/{self.conversation_id}/messages",
            json={"body": body, "client_msg_id": client_msg_id or secrets.token_hex(8)},
            headers=self.visitor_headers(),
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def operator_says(self, body: str, *, private: bool = False) -> dict[str, Any]:
        return operator_post(
            self.owner_http, self.owner, self.conversation_id, body, private=private
        )

    def new_visitor(self, name: str = "Another") -> tuple[str, str]:
        """A second visitor of the same site with its own conversation: (token, conversation)."""
        token = visitor_session(self.visitor_http, self.site["site_key"], name=name)
        started = start_chat(self.visitor_http, token, "Hi there")
        return token, started["conversation"]["id"]

    def close(self) -> None:
        for http in (self.owner_http, self.visitor_http, *self.extra):
            http.close()


def operator_post(
    http: httpx.Client, operator: Operator, conversation_id: str, body: str, *, private: bool
) -> dict[str, Any]:
    response = http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": body, "client_msg_id": secrets.token_hex(8), "private": private},
        headers=csrf(operator),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def visitor_session(http: httpx.Client, site_key: str, **profile: Any) -> str:
    response = http.post("/api/v1/widget/sessions", json={"site_key": site_key, **profile})
    assert response.status_code == 201, response.text
    token: str = response.json()["visitor_token"]
    return token


def start_chat(http: httpx.Client, token: str, body: str) -> dict[str, Any]:
    response = http.post(
        "/api/v1/widget/conversations",
        json={"body": body, "client_msg_id": secrets.token_hex(8)},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


OWNER_PASSWORD = "owner-" + secrets.token_urlsafe(12)


@functools.cache
def _owner_hash() -> str:
    # argon2id is slow on purpose; hash the scenes' shared password once per run.
    return hash_password(OWNER_PASSWORD)


def add_owner(db: Database) -> Operator:
    """An owner made by the real action, as factories.add_operator does, minus re-hashing."""
    email = f"owner-{secrets.token_hex(4)}@example.com"
    shape = db.write_sync(
        create_operator,
        None,
        email=email,
        name="Olive Owner",
        role="owner",
        password_hash=_owner_hash(),
    )
    return Operator(shape["id"], email, OWNER_PASSWORD, "owner")


def make_scene(live: Live) -> Scene:
    owner_http = live.client()
    owner = login(owner_http, add_owner(live.db))
    # Replies here are about delivery: they do not assign (assign_on_reply, ADR 0016), so
    # each one appends exactly its message.created.
    site = create_site(owner_http, owner, assign_on_reply=False)
    visitor_http = live.client()
    token = visitor_session(visitor_http, site["site_key"], name="Vera Visitor")
    started = start_chat(visitor_http, token, "Hello")
    return Scene(live, owner_http, owner, site, visitor_http, token, started["conversation"]["id"])


@pytest.fixture
def scene(live: Live) -> Iterator[Scene]:
    made = make_scene(live)
    yield made
    made.close()


# -- reading the event endpoint --------------------------------------------------------


def poll(
    http: httpx.Client, path: str, headers: dict[str, str], after: int | None, wait: float = 0
) -> dict[str, Any]:
    params: dict[str, Any] = {"wait": wait}
    if after is not None:
        params["after"] = after
    response = http.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def head_of(http: httpx.Client, path: str, headers: dict[str, str]) -> int:
    cursor: int = poll(http, path, headers, None)["cursor"]
    return cursor


@dataclass
class Frame:
    """One SSE frame; ``comment`` frames are heartbeats and carry no event."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None
    retry: int | None = None

    @property
    def payload(self) -> dict[str, Any]:
        assert self.data is not None
        result: dict[str, Any] = json.loads(self.data)
        return result


def sse_frames(response: httpx.Response) -> Iterator[Frame]:
    """Parse an SSE body into frames as they arrive (blank line ends a frame)."""
    frame = Frame()
    started = False
    for line in response.iter_lines():
        if line == "":
            if started:
                yield frame
            frame, started = Frame(), False
            continue
        started = True
        if line.startswith(":"):
            frame.comment = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            frame.id = value
        elif name == "event":
            frame.event = value
        elif name == "data":
            frame.data = value if frame.data is None else frame.data + "\n" + value
        elif name == "retry":
            frame.retry = int(value)


def next_event(frames: Iterator[Frame], timeout: float = 10.0) -> Frame:
    """The next frame that carries an event, skipping heartbeats and ``retry``."""
    deadline = time.monotonic() + timeout
    for frame in frames:
        if frame.event is not None:
            return frame
        if time.monotonic() > deadline:
            break
    raise AssertionError("no event frame arrived in time")


def ends_within(frames: Iterator[Frame], seconds: float, what: str) -> None:
    """The stream ends (the server closes it) within ``seconds``, with no event first:
    heartbeats (a second apart in tests) keep the wait bounded even if it never ends."""
    started = time.monotonic()
    for frame in frames:
        assert frame.event is None, f"{what}: an event came instead of the end"
        assert time.monotonic() - started < seconds, what
    assert time.monotonic() - started < seconds, what


def delivery_delays(
    parked_on: Live,
    http: httpx.Client,
    path: str,
    headers: dict[str, str],
    send: Callable[[], dict[str, Any]],
    rounds: int = 5,
) -> list[float]:
    """Park a long-poll on ``parked_on``, ``send`` a message, time until the poll returns it.

    Timed from the end of the sender's POST (the message is committed by then; the
    POST's own cost is not the wake-up path's), zero if the poll was back first.
    Sorted seconds, one per round: tests assert on the median (the path's speed)
    and the worst (bounded), so one scheduler hiccup on a busy machine is not a failure.
    """
    delays = []
    with ThreadPoolExecutor(1) as pool:
        for _ in range(rounds):
            cursor = head_of(http, path, headers)
            parked = pool.submit(poll, http, path, headers, cursor, 20)
            wait_until(lambda: parked_on.parked() >= 1, what="the poll to park")
            time.sleep(0.05)  # let it settle in its wait, past its first read
            assert not parked.done()
            message = send()  # by the other party, on its own connection
            sent = time.monotonic()
            got = parked.result(timeout=10)
            delays.append(max(0.0, time.monotonic() - sent))
            assert [e["data"]["message"]["id"] for e in got["events"]] == [message["id"]]
            assert got["cursor"] == got["events"][-1]["id"] > cursor
            wait_until(lambda: parked_on.parked() == 0, what="the poll to leave")
    return sorted(delays)


def on_server_loop(live: Live, what: Callable[[], T]) -> T:
    """``what()`` run on the live server's event loop (its state is the loop's alone)."""

    async def run() -> T:
        return what()

    loop = live.hub._loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=5)


def park_raw(scene: Scene, count: int = 1, accept: str = "application/json") -> list[socket.socket]:
    """``count`` requests for the scene's visitor's events from its head, each on a raw
    socket of its own (long-polls of 50 s, or streams), left for the caller to close."""
    head = head_of(scene.visitor_http, "/api/v1/widget/events", scene.visitor_headers())
    request = (
        f"GET /api/v1/widget/events?after={head}&wait=50 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {scene.visitor_token}\r\nAccept: {accept}\r\n\r\n"
    ).encode()
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", scene.live.server.port), timeout=5)
        sock.sendall(request)
        socks.append(sock)
    return socks
