"""Delivering the event log to one reader over HTTP: JSON long-poll and Server-Sent Events.

Both park a listener on the real-time hub and hold no database connection while
parked: each read is one short hop. A listener is registered *before* the first
read, so a commit that lands between the read and the wait still wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from chatdesk.db.runner import Database
from chatdesk.errors import Unavailable
from chatdesk.queries.events import read_events
from chatdesk.realtime.hub import Hub, Listener
from chatdesk.realtime.routing import reader_keys
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.shape_types import Event, EventsPage

__all__ = ["EventStream", "long_poll"]

Actor = OperatorActor | VisitorActor
Batch = tuple[list[Event], int]


def _listen(hub: Hub, actor: Actor) -> Listener:
    # Under the account, not the credential: signing an operator out or changing them
    # wakes their streams whether they were opened with a session or an API token.
    return hub.listen(reader_keys(actor), actor.account)


PAGE = 100  # events per read


def _ephemeral(listener: Listener) -> list[Event]:
    # The bus carries these as plain JSON: the typing events publish_typing built.
    return cast(list[Event], listener.take_ephemeral())


async def _read(db: Database, actor: Actor, after: int | None) -> Batch:
    return await db.read(lambda conn: read_events(conn, actor, after, PAGE))


async def long_poll(
    db: Database,
    hub: Hub,
    actor: Actor,
    after: int | None,
    wait: float,
    receive: Receive | None = None,
) -> EventsPage:
    """Events after ``after`` as soon as there are any, else ``[]`` after ``wait`` seconds.

    With ``receive`` (the request's ASGI receive, body already read), a client that
    hangs up stops the wait at once, so abandoned polls do not stay parked.
    """
    listener = _listen(hub, actor)
    gone = asyncio.Event()
    watcher = asyncio.create_task(_watch_disconnect(receive, gone, listener)) if receive else None
    try:
        deadline = time.monotonic() + wait
        cursor = after
        while True:
            listener.clear()
            found, cursor_now = await _read(db, actor, cursor)
            found.extend(_ephemeral(listener))
            if found or cursor is None:
                return {"events": found, "cursor": cursor_now}
            cursor = cursor_now
            remaining = deadline - time.monotonic()
            if remaining <= 0 or gone.is_set() or hub.closing:
                return {"events": [], "cursor": cursor}
            await listener.wait(remaining)
            if hub.closing:
                # The server is stopping: answer at once, without another read; anything
                # new is after this cursor, so the next poll (on any node) gets it.
                return {"events": [], "cursor": cursor}
    finally:
        if watcher is not None:
            watcher.cancel()
        hub.unlisten(listener)


async def _watch_disconnect(receive: Receive, gone: asyncio.Event, listener: Listener) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
    listener.wake()


def _sse(event: Event) -> bytes:
    head = f"id: {event['id']}\n" if event["id"] is not None else ""
    return f"{head}event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


class EventStream(Response):
    """An ASGI response streaming the reader's events as SSE until the client leaves.

    The first batch is read before the response starts, so an expired cursor
    still gets a JSON 410. A client that stops draining (a send blocked longer
    than ``send_timeout``) is disconnected and resumes from its cursor.
    """

    def __init__(
        self,
        db: Database,
        hub: Hub,
        actor: Actor,
        first: Batch,
        listener: Listener,
        *,
        heartbeat: float,
        send_timeout: float,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
        on_close: Callable[[], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.db, self.hub, self.actor = db, hub, actor
        self.first, self.listener = first, listener
        self.heartbeat, self.send_timeout = heartbeat, send_timeout
        self.still_allowed = still_allowed
        self.on_close = on_close
        self.extra_headers = headers or {}
        super().__init__(status_code=200, media_type="text/event-stream")

    @classmethod
    async def open(
        cls, db: Database, hub: Hub, actor: Actor, after: int | None, **kwargs: Any
    ) -> EventStream:
        listener = _listen(hub, actor)
        try:
            first = await _read(db, actor, after)
        except BaseException:
            hub.unlisten(listener)
            raise
        return cls(db, hub, actor, first, listener, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            self.listener.wake()

        watcher = asyncio.create_task(watch_disconnect())
        try:
            await self._send(send, self._start())
            await self._stream(send, gone)
            # Ended by the server (the session was revoked, the server is stopping):
            # finish the body properly, so the client reconnects with Last-Event-ID.
            await self._send(send, {"type": "http.response.body", "body": b""})
        except (TimeoutError, OSError):
            pass  # a stalled or vanished client; it resumes from its cursor
        except Unavailable:
            # The database went away mid-stream (logged where it was met): end the body
            # properly; the client reconnects with Last-Event-ID, answered 503 until it is back.
            with contextlib.suppress(TimeoutError, OSError):
                await self._send(send, {"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            self.hub.unlisten(self.listener)
            if self.on_close is not None:
                self.on_close()

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
        async with asyncio.timeout(self.send_timeout):
            await send(message)

    async def _body(self, send: Send, data: bytes) -> None:
        await self._send(send, {"type": "http.response.body", "body": data, "more_body": True})

    async def _stream(self, send: Send, gone: asyncio.Event) -> None:
        found, cursor = self.first
        await self._body(send, b"retry: 2000\n\n")
        while not gone.is_set():
            if len(found) >= PAGE and not self.hub.closing:
                self.listener.wake()  # a full page: more may be waiting, read on at once
            found.extend(_ephemeral(self.listener))
            if found:
                await self._body(send, b"".join(_sse(event) for event in found))
            if self.hub.closing:
                return  # the server is stopping: the client resumes from its last id
            woken = await self.listener.wait(self.heartbeat)
            if gone.is_set() or self.hub.closing:
                return
            if (not woken or self.listener.recheck) and self.still_allowed is not None:
                self.listener.recheck = False
                if not await self.still_allowed():
                    return
            if not woken:
                # Nothing new: the hub wakes this listener for every event it may see
                # (its poll covers a lost wake-up), so a heartbeat costs no database read.
                await self._body(send, b": ping\n\n")
                found = []
                continue
            self.listener.clear()
            found, cursor = await _read(self.db, self.actor, cursor)
