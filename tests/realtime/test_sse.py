"""Server-Sent Events: headers, frames, heartbeats, Last-Event-ID resume, revoked sessions."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import event, update

from chatdesk.actions.messages import send_message
from chatdesk.db.engine import make_engine
from chatdesk.db.tables import operator_sessions
from chatdesk.security.principals import OperatorActor
from chatdesk.web import delivery
from tests.factories import csrf
from tests.realtime.conftest import (
    REDIS_URL,
    Frame,
    Live,
    Scene,
    head_of,
    make_scene,
    next_event,
    sse_frames,
)

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"
SSE = {"Accept": "text/event-stream"}


@contextmanager
def stream(
    http: httpx.Client, path: str, headers: dict[str, str], after: int | None = None
) -> Iterator[tuple[httpx.Response, Iterator[Frame]]]:
    params = {} if after is None else {"after": after}
    with http.stream("GET", path, params=params, headers={**SSE, **headers}) as response:
        assert response.status_code == 200, response.read()
        yield response, sse_frames(response)


def test_headers_frames_and_heartbeat(scene: Scene) -> None:
    with stream(scene.visitor_http, WIDGET, scene.visitor_headers(), after=0) as (response, frames):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"].startswith("no-cache")
        assert response.headers["x-accel-buffering"] == "no"
        first = next(frames)
        assert first.retry is not None  # the reconnect delay comes first
        created, message = next_event(frames), next_event(frames)
        assert (created.event, message.event) == ("conversation.created", "message.created")
        for frame in (created, message):
            assert frame.id == str(frame.payload["id"])
            assert frame.event == frame.payload["type"]
        assert int(message.id or 0) > int(created.id or 0)
        assert message.payload["data"]["message"]["body"] == "Hello"
        # Nothing else is happening: the next frame is a heartbeat within ~1 s.
        started = time.monotonic()
        heartbeat = next(frames)
        assert heartbeat.comment == "ping" and heartbeat.event is None
        assert time.monotonic() - started < 3


def test_raw_frame_format(scene: Scene) -> None:
    cursor = head_of(scene.owner_http, CONSOLE, {})
    message = scene.visitor_says("Raw bytes please")
    with scene.owner_http.stream("GET", CONSOLE, params={"after": cursor}, headers=SSE) as response:
        buffer = b""
        for chunk in response.iter_bytes():
            buffer += chunk
            if b"\n\n" in buffer.split(b"retry: 2000\n\n", 1)[-1]:
                break
    body = buffer.split(b"retry: 2000\n\n", 1)[1]
    frame = body.split(b"\n\n", 1)[0].decode()
    lines = frame.split("\n")
    assert lines[0] == f"id: {cursor + 1}"
    assert lines[1] == "event: message.created"
    assert lines[2].startswith("data: ") and len(lines) == 3
    event = json.loads(lines[2][len("data: ") :])
    assert event["id"] == cursor + 1
    assert event["data"]["message"]["id"] == message["id"]


def test_live_events_arrive_on_an_open_stream(scene: Scene) -> None:
    cursor = head_of(scene.visitor_http, WIDGET, scene.visitor_headers())
    with stream(scene.visitor_http, WIDGET, scene.visitor_headers()) as (_response, frames):
        assert next(frames).retry is not None
        reply = scene.operator_says("Streaming reply")
        frame = next_event(frames, timeout=5)
    assert frame.event == "message.created"
    assert frame.payload["data"]["message"]["id"] == reply["id"]
    assert int(frame.id or 0) > cursor


def test_last_event_id_resumes_with_nothing_missed_or_repeated(scene: Scene) -> None:
    headers = scene.visitor_headers()
    seen: list[int] = []
    with stream(scene.visitor_http, WIDGET, headers, after=0) as (_response, frames):
        seen += [int(next_event(frames).id or 0), int(next_event(frames).id or 0)]
    # While disconnected: more events, including ones the visitor may not see.
    sent = [scene.operator_says("one")["id"]]
    scene.operator_says("secret", private=True)
    sent.append(scene.visitor_says("two")["id"])
    sent.append(scene.operator_says("three")["id"])
    # The header wins over a stale ?after= (browsers resend the original URL).
    resume = {**headers, "Last-Event-ID": str(seen[-1])}
    with stream(scene.visitor_http, WIDGET, resume, after=0) as (_response, frames):
        resumed = [next_event(frames) for _ in sent]
        live = scene.operator_says("four")
        resumed.append(next_event(frames))
        # No repeat of anything after it either: the next frame is a heartbeat.
        assert next(frames).comment == "ping"
    sent.append(live["id"])
    ids = [int(f.id or 0) for f in resumed]
    assert ids == sorted(ids) and ids[0] > seen[-1] and len(set(ids)) == len(ids)
    assert [f.payload["data"]["message"]["id"] for f in resumed] == sent
    assert all("secret" not in (f.data or "") for f in resumed)


# b"\xb2" is "²" in Latin-1: str.isdigit() says yes, int() says no.
BAD_IDS = [b"-1", b"abc", b"1.5", b"+7", str(2**63).encode(), b"\xb2", b"1\xb9"]


def test_bad_last_event_id_is_422(scene: Scene) -> None:
    for bad in BAD_IDS:
        for http, path, headers in (
            (scene.visitor_http, WIDGET, scene.visitor_headers()),
            (scene.owner_http, CONSOLE, {}),
        ):
            sent = [(k.encode(), v.encode()) for k, v in {**SSE, **headers}.items()]
            response = http.get(path, headers=[*sent, (b"Last-Event-ID", bad)])
            assert response.status_code == 422, (bad, response.text)
            assert response.json()["error"]["code"] == "validation_error"


def test_last_event_id_above_the_head_is_expired(scene: Scene) -> None:
    head = head_of(scene.owner_http, CONSOLE, {})
    response = scene.owner_http.get(CONSOLE, headers={**SSE, "Last-Event-ID": str(head + 5)})
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "cursor_expired"


def test_logout_ends_the_operator_stream(scene: Scene) -> None:
    with stream(scene.owner_http, CONSOLE, {}) as (response, frames):
        assert next(frames).retry is not None
        other = scene.live.client()
        scene.extra.append(other)
        other.cookies.update(scene.owner_http.cookies)
        out = other.post("/api/v1/auth/logout", headers=csrf(scene.owner))
        assert out.status_code == 204
        started = time.monotonic()
        rest = list(frames)  # ends when the server closes the stream
        assert time.monotonic() - started < 3
        assert all(frame.event is None for frame in rest)
    assert response.is_closed
    after = scene.owner_http.get(CONSOLE, params={"wait": 0}, headers=SSE)
    assert after.status_code == 401


def test_a_new_stream_starts_from_now(scene: Scene) -> None:
    with stream(scene.visitor_http, WIDGET, scene.visitor_headers()) as (_response, frames):
        assert next(frames).retry is not None
        reply = scene.operator_says("Only this one")
        frame = next_event(frames)
    # The first event frame is the new reply: the backlog ("Hello"...) was not replayed.
    assert frame.payload["data"]["message"]["id"] == reply["id"]


def test_a_long_backlog_streams_without_waiting_for_heartbeats(
    live_factory: Callable[..., Live],
) -> None:
    # A 10 s heartbeat: a stream that paused between pages would stall for seconds.
    live = live_factory(sse_heartbeat_seconds=10)
    scene = make_scene(live)
    try:
        start = head_of(scene.owner_http, CONSOLE, {})
        actor = OperatorActor(scene.owner.id, "Owner", scene.owner.email, "owner", None)
        futures = [
            live.db.submit(send_message, actor, scene.conversation_id, f"backlog {n}", f"b{n}")
            for n in range(250)
        ]
        sent = [future.result(timeout=30)[0]["id"] for future in futures]
        started = time.monotonic()
        with stream(scene.owner_http, CONSOLE, {}, after=start) as (_response, frames):
            got = [next_event(frames, timeout=15) for _ in sent]
        elapsed = time.monotonic() - started
        assert [f.payload["data"]["message"]["id"] for f in got] == sent
        assert elapsed < 5, f"250 backlog events took {elapsed:.1f} s"
    finally:
        scene.close()


def test_heartbeats_read_nothing_from_the_database(live_factory: Callable[..., Live]) -> None:
    # The log's slow poll and the scheduler's are slowed right down: what is left is what
    # the stream reads.
    live = live_factory(event_poll_seconds=3600, scheduler_poll_seconds=3600)
    scene = make_scene(live)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engines = [e for e in (live.db.read_engine, live.db.here_engine) if e is not None]
    try:
        with stream(scene.owner_http, CONSOLE, {}) as (_response, frames):
            assert next(frames).retry is not None
            for engine in engines:
                event.listen(engine, "before_cursor_execute", record)
            try:
                pings = [next(frames) for _ in range(3)]  # a heartbeat a second in tests
            finally:
                for engine in engines:
                    event.remove(engine, "before_cursor_execute", record)
        assert [frame.comment for frame in pings] == ["ping"] * 3
        assert statements == []  # not even the stream's credential
    finally:
        scene.close()


@pytest.mark.redis
def test_signing_out_on_one_node_ends_the_stream_on_another(
    live_factory: Callable[..., Live],
) -> None:
    node_a = live_factory(redis_url=REDIS_URL, event_poll_seconds=30)
    node_b = live_factory(redis_url=REDIS_URL, event_poll_seconds=30)
    scene = make_scene(node_a)
    try:
        with node_b.client() as device:
            device.cookies.update(scene.owner_http.cookies)
            with stream(device, CONSOLE, {}) as (response, frames):
                assert next(frames).retry is not None
                out = scene.owner_http.post("/api/v1/auth/logout", headers=csrf(scene.owner))
                assert out.status_code == 204
                started = time.monotonic()
                rest = list(frames)  # ends when node B closes the stream
                # Well before the stream's own once-a-minute check of its session.
                assert time.monotonic() - started < 3
                assert all(frame.event is None for frame in rest)
            assert response.is_closed
    finally:
        scene.close()


def test_a_session_that_runs_out_ends_its_stream_at_the_next_check(
    live_factory: Callable[..., Live], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No sign-out wakes the stream: only its periodic check of the session can end it
    # (once a minute in production; once a second here).
    monkeypatch.setattr(delivery, "CREDENTIAL_CHECK_SECONDS", 1.0)
    live = live_factory(event_poll_seconds=30)
    scene = make_scene(live)
    engine = make_engine(live.settings.database_url)
    try:
        with stream(scene.owner_http, CONSOLE, {}) as (response, frames):
            assert next(frames).retry is not None
            assert next(frames).comment == "ping"  # alive while the session is
            with engine.begin() as conn:
                conn.execute(
                    update(operator_sessions).values(expires_at=datetime.now(UTC) - timedelta(1))
                )
            started = time.monotonic()
            rest = list(frames)  # ends when the check finds the session gone
            assert time.monotonic() - started < 5
            assert all(frame.event is None for frame in rest)
        assert response.is_closed
        # And the session is refused outright from then on.
        assert scene.owner_http.get("/api/v1/auth/me").status_code == 401
    finally:
        engine.dispose()
        scene.close()


def test_a_client_that_stops_reading_is_let_go_after_the_send_timeout(
    live_factory: Callable[..., Live],
) -> None:
    """A stream whose client reads nothing more blocks in its send once the buffers are
    full: after ``sse_send_timeout_seconds`` the server ends it (the client resumes from
    its cursor), rather than hold it, and its backlog, forever."""
    live = live_factory(sse_send_timeout_seconds=1.0, sse_heartbeat_seconds=30)
    scene = make_scene(live)
    actor = OperatorActor(scene.owner.id, "Owner", scene.owner.email, "owner", None)
    before = live.parked()
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", live.server.port))
        sock.sendall(
            (
                f"GET {WIDGET} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                f"Authorization: Bearer {scene.visitor_token}\r\n\r\n"
            ).encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")  # then never read again
        assert live.parked() == before + 1
        deadline = time.monotonic() + 60
        big = "\u2603" * 10_000  # about 30 KB per frame
        while live.parked() > before:  # until the buffers are full and the send times out
            assert time.monotonic() < deadline, "a stalled stream was never let go"
            futures = [
                live.db.submit(send_message, actor, scene.conversation_id, big, None)
                for _ in range(20)
            ]
            for future in futures:
                future.result(timeout=30)
            time.sleep(0.2)
    finally:
        sock.close()
        scene.close()
