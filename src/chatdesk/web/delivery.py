"""Delivering the event log to one reader over HTTP: JSON long-poll and Server-Sent Events.

Both park a listener on the real-time hub and hold no database connection while
parked. A listener is registered *before* its first read, which starts from the
client's cursor (and answers 410 for an expired one); from then on the hub hands
it the new events it may see, already shaped and encoded, and it reads the log
again only to catch up: while a page-sized read has not reached what the hub
handed it, or after its backlog overflowed. A catch-up whose cursor lies among
the events the hub still holds (a long-poll asking again after its answer, a
stream resuming) takes them from memory instead (``Hub.recent``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from chatdesk.db.runner import Database
from chatdesk.errors import Unavailable
from chatdesk.queries.events import read_events
from chatdesk.realtime.frames import json_item, page_body, sse_frame
from chatdesk.realtime.hub import Entry, Hub, Listener
from chatdesk.realtime.routing import reader_keys
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.security.visibility import visibility
from chatdesk.shape_types import Event

__all__ = ["HANG_UP", "EventStream", "HangUps", "long_poll"]

# The scope extension through which the server tells a request its client hung up
# (web/http_protocol.py); without it, a task per parked request waits on ``receive``.
HANG_UP = "chatdesk.hang_up"


class HangUps(Protocol):
    def on_hang_up(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` once if the connection is lost (None: no longer)."""


Actor = OperatorActor | VisitorActor
# What a step of a listener found: events it read itself, events the hub handed it.
Step = tuple[list[Event], list[Entry], int]


def _listen(hub: Hub, actor: Actor) -> Listener:
    # Under the account, not the credential: signing an operator out or changing them
    # wakes their streams whether they were opened with a session or an API token.
    return hub.listen(reader_keys(actor), actor.account, visibility(actor))


PAGE = 100  # events per read
# How often a stream checks its credential by itself (a session that ran out); a
# revocation makes it check at once.
CREDENTIAL_CHECK_SECONDS = 60.0


def _ephemeral(listener: Listener) -> list[Event]:
    # The bus carries these as plain JSON: the typing events publish_typing built.
    return cast(list[Event], listener.take_ephemeral())


async def _read(
    db: Database,
    hub: Hub,
    listener: Listener,
    actor: Actor,
    after: int | None,
    *,
    memory: bool = True,
) -> Step:
    """What ``actor`` may see after ``after``: with ``memory``, the events the hub still
    holds from there, else (or when it does not hold them all) one page read from the
    log. Call right after registering ``listener`` (no wait in between), or with its
    flag cleared.

    The hub holds what it has read, which may lag a commit by a wake-up: a reader that
    will wait (parked, it is handed what comes next) may take it; one that will not
    wait reads the log, so it sees what was committed before it asked."""
    if memory and after is not None:
        recent = hub.recent(listener.seen, after, PAGE)
        if recent is not None:
            return [], *recent
    hub.counted_read()
    events, cursor = await db.read_here(lambda conn: read_events(conn, actor, after, PAGE))
    return events, [], cursor


async def _step(db: Database, hub: Hub, actor: Actor, listener: Listener, cursor: int) -> Step:
    """What is new for ``listener`` after ``cursor``: from memory, or one page read from
    the log while it is behind. Call with the listener's flag cleared."""
    if listener.behind(cursor):
        read, recent, cursor = await _read(db, hub, listener, actor, cursor)
        if listener.behind(cursor):
            listener.wake()  # a full page short of what the hub handed over: read on
            return read, recent, cursor
        handed, cursor = hub.take(listener, cursor)
        return read, recent + handed, cursor
    handed, cursor = hub.take(listener, cursor)
    return [], handed, cursor


def _items(listener: Listener, read: list[Event], handed: list[Entry]) -> list[bytes]:
    items = [json_item(event) for event in read]
    items.extend(entry.item(listener.to_visitor) for entry in handed)
    items.extend(json_item(event) for event in _ephemeral(listener))
    return items


def _page(items: list[bytes], cursor: int) -> Response:
    return Response(page_body(items, cursor), media_type="application/json")


async def long_poll(
    db: Database,
    hub: Hub,
    actor: Actor,
    after: int | None,
    wait: float,
    scope: Scope | None = None,
    receive: Receive | None = None,
) -> Response:
    """Events after ``after`` as soon as there are any, else ``[]`` after ``wait`` seconds
    (an ``EventsPage``, encoded from the bytes the hub made once per event).

    With the request's ``scope`` and ``receive`` (body already read), a client that
    hangs up stops the wait at once, so abandoned polls do not stay parked.
    """
    listener = _listen(hub, actor)
    watcher = _watch(scope, receive, listener) if wait > 0 else None
    try:
        deadline = time.monotonic() + wait
        found, recent, cursor = await _read(db, hub, listener, actor, after, memory=wait > 0)
        items = _items(listener, found, recent)
        if items or after is None:
            return _page(items, cursor)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or listener.left or hub.closing:
                return _page([], cursor)
            woken = await listener.wait(remaining)
            if hub.closing:
                # The server is stopping: answer at once, without another read; anything
                # new is after this cursor, so the next poll (on any node) gets it.
                return _page([], cursor)
            if not woken:
                # The wait is over: look at the log once more (one read shared by the
                # process), in case the wake-up of an event for this reader was lost.
                await hub.refresh()
            listener.clear()
            read, handed, cursor = await _step(db, hub, actor, listener, cursor)
            items = _items(listener, read, handed)
            if items:
                return _page(items, cursor)
    finally:
        _unwatch(watcher)
        hub.unlisten(listener)


Watcher = HangUps | asyncio.Task[None] | None


def _watch(scope: Scope | None, receive: Receive | None, listener: Listener) -> Watcher:
    """Have ``listener`` told when its client hangs up: by the server (``HANG_UP``), or
    by a task waiting on ``receive``."""
    hang_ups: HangUps | None = scope.get("extensions", {}).get(HANG_UP) if scope else None
    if hang_ups is not None:
        hang_ups.on_hang_up(listener.hang_up)
        return hang_ups
    if receive is None:
        return None
    return asyncio.create_task(_watch_disconnect(receive, listener))


def _unwatch(watcher: Watcher) -> None:
    if isinstance(watcher, asyncio.Task):
        watcher.cancel()
    elif watcher is not None:
        watcher.on_hang_up(None)


async def _watch_disconnect(receive: Receive, listener: Listener) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    listener.hang_up()


class EventStream(Response):
    """An ASGI response streaming the reader's events as SSE until the client leaves.

    The first batch is read before the response starts, so an expired cursor
    still gets a JSON 410. A client that stops draining (a send blocked longer
    than ``send_timeout``) is disconnected and resumes from its cursor.

    Time is kept by one timer per stream (:meth:`_tick`), not by a timer per wait and
    a timeout per send: at 50 operator streams and 150 messages/s those were 15,000
    timers a second. A heartbeat goes out after ``heartbeat`` seconds without a write;
    a send blocked for ``send_timeout`` seconds (``heartbeat`` more at most, when it
    began right after the clock last ran) ends the stream.
    """

    def __init__(
        self,
        db: Database,
        hub: Hub,
        actor: Actor,
        first: Step,
        listener: Listener,
        *,
        heartbeat: float,
        send_timeout: float,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
        on_heartbeat: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.db, self.hub, self.actor = db, hub, actor
        self.first: Step | None = first
        self.listener = listener
        self.heartbeat, self.send_timeout = heartbeat, send_timeout
        self.still_allowed = still_allowed
        self.on_heartbeat = on_heartbeat
        self.on_close = on_close
        self.extra_headers = headers or {}
        # Kept by _tick: when the last write went out, and since when a send is blocked.
        self._wrote_at = 0.0
        self._sending_since = 0.0
        self._ping = False  # a heartbeat is due
        self._stalled = False  # the client stopped draining: the stream was cancelled
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        super().__init__(status_code=200, media_type="text/event-stream")

    @classmethod
    async def open(
        cls, db: Database, hub: Hub, actor: Actor, after: int | None, **kwargs: Any
    ) -> EventStream:
        listener = _listen(hub, actor)
        try:
            first = await _read(db, hub, listener, actor, after)
        except BaseException:
            hub.unlisten(listener)
            raise
        return cls(db, hub, actor, first, listener, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = _watch(scope, receive, self.listener)
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._wrote_at = loop.time()
        self._timer = loop.call_at(self._wrote_at + self.heartbeat, self._tick)
        try:
            try:
                await self._send(send, self._start())
                await self._stream(send)
            except Unavailable:
                # The database went away mid-stream (logged where it was met); the client
                # reconnects with Last-Event-ID, answered 503 until it is back.
                pass
            # Ended by the server (the session was revoked, the server is stopping, the
            # database went away): finish the body properly, so the client reconnects.
            await self._send(send, {"type": "http.response.body", "body": b""})
        except OSError:
            pass  # a vanished client; it resumes from its cursor
        except asyncio.CancelledError:
            if not self._stalled or self._task is None:
                raise
            self._task.uncancel()  # a stalled client (see _tick); it resumes from its cursor
        finally:
            self._timer.cancel()
            _unwatch(watcher)
            self.hub.unlisten(self.listener)
            if self.on_close is not None:
                self.on_close()

    def _tick(self) -> None:
        """The stream's clock: wakes the stream for a heartbeat once it has written
        nothing for ``heartbeat`` seconds, and ends a send blocked for ``send_timeout``
        (by cancelling the stream's task, caught in ``__call__``). It runs when the
        next of those is due as far as it knows; a write meanwhile only moves it on."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        sending = self._sending_since
        if sending:
            if now - sending >= self.send_timeout:
                if self._task is not None and not self._stalled:
                    self._stalled = True
                    self._task.cancel()
                return
            due = sending + self.send_timeout
        else:
            due = self._wrote_at + self.heartbeat
            if now >= due:
                self._ping = True
                self.listener.wake()
                due = now + self.heartbeat
        self._timer = loop.call_at(due, self._tick)

    def _start(self) -> Message:
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache, no-store",
            "x-accel-buffering": "no",
            **self.extra_headers,
        }
        return {
            "type": "http.response.start",
            "status": 200,
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }

    async def _send(self, send: Send, message: Message) -> None:
        loop = asyncio.get_running_loop()
        self._sending_since = loop.time()
        try:
            await send(message)
        finally:
            self._sending_since = 0.0
        self._wrote_at = loop.time()

    async def _body(self, send: Send, data: bytes) -> None:
        await self._send(send, {"type": "http.response.body", "body": data, "more_body": True})

    async def _stream(self, send: Send) -> None:
        assert self.first is not None
        (read, handed, cursor), self.first = self.first, None  # the first batch is not kept
        listener = self.listener
        loop = asyncio.get_running_loop()
        checked = loop.time()
        # A visitor's token lasts while it is used: only an erasure's re-check ends it.
        every_minute = isinstance(self.actor, OperatorActor)
        await self._body(send, b"retry: 2000\n\n")
        while not listener.left:
            if listener.behind(cursor) and not self.hub.closing:
                listener.wake()  # a full first page: more may be waiting, read on at once
            frames = [sse_frame(event) for event in read]
            frames.extend(entry.frame(listener.to_visitor) for entry in handed)
            frames.extend(sse_frame(event) for event in _ephemeral(listener))
            if frames:
                await self._body(send, b"".join(frames))
            elif self._ping:
                # Nothing new for a while: the hub hands this listener every event it may
                # see (its poll covers a lost wake-up), so a heartbeat costs no database read.
                if self.on_heartbeat is not None:
                    self.on_heartbeat()
                await self._body(send, b": ping\n\n")
            self._ping = False
            if self.hub.closing:
                return  # the server is stopping: the client resumes from its last id
            await listener.wait()
            if listener.left or self.hub.closing:
                return
            if self.still_allowed is not None and (
                listener.recheck
                or (every_minute and loop.time() - checked >= CREDENTIAL_CHECK_SECONDS)
            ):
                # A revocation wakes the streams it concerns in every process (the hub's
                # ``disconnect``, an erasure's bus message); the minute's check ends those
                # whose session ran out (a visitor's token lasts while it is used).
                listener.recheck = False
                checked = loop.time()
                if not await self.still_allowed():
                    return
            listener.clear()
            read, handed, cursor = await _step(self.db, self.hub, self.actor, listener, cursor)
