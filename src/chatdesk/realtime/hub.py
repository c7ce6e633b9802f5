"""In-process fan-out: each new event read once per process, handed to every listener.

The hub learns of new events from the bus (published by any process after its
commit) and from a slow poll of the event log's head (which covers a lost
wake-up and writers with no bus, such as the CLI). It reads the new events'
whole rows once per process, already shaped for each audience (operators; the
event's visitor, never for a private one), keeps each event's encodings (the
SSE frame and the long-poll item, made on first use, once per audience), and
appends the event to the bounded backlog of every listener whose routing keys
match and whose visibility (``security.visibility``, the rule ``read_events``
applies in SQL) admits it. A listener reads the log itself only to catch up:
on connect, from its client's cursor, and after its backlog overflowed (then it
falls back to a read from its cursor, never to a drop). Ephemeral signals
(typing) are handed to matching listeners directly; they are never stored.

The hub also keeps the events it handed over in the last :data:`RECENT_SECONDS`
(at most :data:`RECENT`): a reader whose cursor lies among them (a long-poll
asking again right after its answer, a stream reconnecting) takes what it may
see from there out of memory (:meth:`Hub.recent`), without a read. Erasing a
visitor or deleting a site empties it in every process (:meth:`Hub.forget_recent`).

The hub reads the log through the :class:`EventLog` it is given (the app passes
``queries.events.EventLogReader``), so the real-time layer imports no query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

from chatdesk.errors import Unavailable
from chatdesk.realtime.bus import Bus, Message
from chatdesk.realtime.frames import json_item, sse_frame
from chatdesk.realtime.routing import Key, event_keys
from chatdesk.security.principals import Principal
from chatdesk.security.visibility import Visibility
from chatdesk.shape_types import Event

__all__ = [
    "BACKLOG",
    "RECENT",
    "RECENT_SECONDS",
    "Entry",
    "EventLog",
    "Hub",
    "Listener",
    "NewEvent",
]

_log = logging.getLogger("chatdesk.hub")
# (id, site id, visitor id, private, operator view, visitor view or None): one new
# event's whole row, shaped once per audience by the reader.
NewEvent = tuple[int, str, str | None, bool, Event, Event | None]
# Events a listener may hold undelivered before it falls back to reading the log.
BACKLOG = 256
# Events handed over that a reader may still take from memory: the newest, at most
# this many, handed at most this long ago (data a retention job deletes is far older).
RECENT = 2048
RECENT_SECONDS = 30.0
_EVERYONE = Visibility()


class EventLog(Protocol):
    """What the hub reads of the event log, each call one short read."""

    async def head(self) -> int:
        """The newest event id (0 for an empty log)."""

    async def events_after(self, after: int) -> list[NewEvent]:
        """The events after ``after``, oldest first (a page of them)."""


class Entry:
    """One stored event as the hub holds it: routing columns, the view of each
    audience, and each view's bytes, encoded on first use and then shared."""

    __slots__ = ("_frames", "_items", "_views", "id", "private", "site_id", "visitor_id")

    def __init__(
        self,
        event_id: int,
        site_id: str,
        visitor_id: str | None,
        private: bool,
        operator_view: Event,
        visitor_view: Event | None,
    ) -> None:
        self.id = event_id
        self.site_id = site_id
        self.visitor_id = visitor_id
        self.private = private
        self._views = (operator_view, visitor_view)
        self._frames: list[bytes | None] = [None, None]
        self._items: list[bytes | None] = [None, None]

    def view(self, to_visitor: bool) -> Event:
        view = self._views[to_visitor]
        if view is None:  # the hub hands a visitor only what its visibility admits
            raise ValueError(f"event {self.id} is not shown to visitors")
        return view

    def frame(self, to_visitor: bool) -> bytes:
        """The SSE frame for this audience."""
        frame = self._frames[to_visitor]
        if frame is None:
            frame = self._frames[to_visitor] = sse_frame(self.view(to_visitor))
        return frame

    def item(self, to_visitor: bool) -> bytes:
        """The long-poll JSON item for this audience."""
        item = self._items[to_visitor]
        if item is None:
            item = self._items[to_visitor] = json_item(self.view(to_visitor))
        return item


class Listener:
    """One parked reader: a flag the hub sets, the events handed to it and not yet
    taken, plus ephemeral events waiting for it.

    The hub has handed this listener every event it may see with an id above
    :attr:`base` up to what the hub has read (:attr:`Hub.seen`). A reader whose
    cursor is below ``base`` (it connected with an older cursor, or its backlog
    overflowed) catches up by reading the log from its cursor.

    Thousands are parked at once, so it holds little: no ``asyncio.Event`` (each
    carries a deque of 64 slots), only a flag and, while its reader waits, a future.
    """

    __slots__ = (
        "_waiter",
        "_woken",
        "backlog",
        "base",
        "ephemeral",
        "keys",
        "left",
        "listening",
        "principal",
        "recheck",
        "seen",
        "to_visitor",
    )

    def __init__(
        self,
        keys: tuple[Key, ...],
        principal: Principal | None,
        seen: Visibility = _EVERYONE,
        base: int = 0,
    ) -> None:
        self.keys = keys
        self.principal = principal
        self.seen = seen
        self.to_visitor = seen.is_visitor
        self.base = base
        self.backlog: list[Entry] | None = None
        self.recheck = False
        self.left = False  # its client hung up (set by the delivery that serves it)
        self.listening = False  # registered with the hub (counted in ``Hub.parked``)
        self._woken = False
        self._waiter: asyncio.Future[bool] | None = None
        self.ephemeral: list[dict[str, Any]] = []

    def wake(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def clear(self) -> None:
        self._woken = False

    def hang_up(self) -> None:
        """Its client hung up: the reader stops waiting."""
        self.left = True
        self.wake()

    async def wait(self, timeout: float | None = None) -> bool:
        """True when woken, False when ``timeout`` (None: no limit) passed first."""
        if self._woken:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(timeout, _time_up, waiter) if timeout is not None else None
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    def behind(self, cursor: int) -> bool:
        """Whether events after ``cursor`` must be read from the log (not all handed over)."""
        return cursor < self.base

    def push(self, entry: Entry, limit: int) -> bool:
        """Hand over ``entry``; False when the backlog was full (it is then dropped
        whole and the listener reads the log from its cursor instead)."""
        self.wake()
        backlog = self.backlog
        if backlog is None:
            self.backlog = [entry]
        elif len(backlog) < limit:
            if backlog[-1] is not entry:
                backlog.append(entry)
        else:
            self.backlog = None
            self.base = entry.id
            return False
        return True

    def take_ephemeral(self) -> list[dict[str, Any]]:
        taken, self.ephemeral = self.ephemeral, []
        return taken


def _time_up(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class Hub:
    """Hands parked listeners the events they may see as they are committed."""

    def __init__(
        self, bus: Bus, log: EventLog, *, poll_seconds: float, backlog: int = BACKLOG
    ) -> None:
        self.bus = bus
        self.log = log
        self.poll_seconds = poll_seconds
        self.backlog = backlog
        # Reads of the event log made for delivery: the hub's own reads of new events
        # ("fetch"), its head polls ("poll"), and listeners catching up ("catch_up").
        self.reads = {"fetch": 0, "poll": 0, "catch_up": 0}
        self.overflows = 0
        self._listeners: dict[Key, set[Listener]] = defaultdict(set)
        self._seen = 0
        self._target = 0
        self._fetcher: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0
        self._publishing: set[asyncio.Future[None]] = set()
        # Set once the server stops: delivery answers parked readers and parks no more.
        self.closing = False
        # Told every event id the hub learns of (wake-ups, polls of the head), on its loop:
        # how the outbox worker hears of new events to dispatch. Each must be cheap.
        self.watchers: list[Callable[[int], None]] = []
        # Handlers of the bus's other kinds of message, by kind (operator presence).
        self._handlers: dict[str, Callable[[Message], None]] = {}
        self._parked = 0
        # Every event with an id above ``_floor`` through ``_seen``, oldest first, with
        # the monotonic time each was handed over.
        self._recent: deque[tuple[float, Entry]] = deque()
        self._floor = 0

    @property
    def parked(self) -> int:
        """Listeners parked now, each once however many keys it parks under."""
        return self._parked

    @property
    def seen(self) -> int:
        """The event id through which the hub has handed every event to its listeners."""
        return self._seen

    async def start(self) -> None:
        self.reads["poll"] += 1
        self._seen = self._target = self._floor = await self.log.head()
        await self.bus.start(self._on_bus)
        self._loop = asyncio.get_running_loop()
        self._poller = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        self._loop = None  # commits from now on publish nothing
        for task in (self._poller, self._fetcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.bus.stop()

    # -- listeners -----------------------------------------------------------------

    def listen(
        self,
        keys: tuple[Key, ...],
        principal: Principal | None = None,
        seen: Visibility = _EVERYONE,
    ) -> Listener:
        """Park a listener; from now on it is handed every event after :attr:`seen`
        that ``seen`` admits (events up to there it reads from the log)."""
        listener = Listener(keys, principal, seen, self._seen)
        for key in keys:
            self._listeners[key].add(listener)
        listener.listening = True
        self._parked += 1
        return listener

    def unlisten(self, listener: Listener) -> None:
        if listener.listening:
            listener.listening = False
            self._parked -= 1
        for key in listener.keys:
            group = self._listeners.get(key)
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._listeners[key]

    def take(self, listener: Listener, cursor: int) -> tuple[list[Entry], int]:
        """The events handed to ``listener`` after ``cursor``, and its new cursor.

        Only for a listener not :meth:`Listener.behind` ``cursor``: it has been handed
        every event it may see from there through :attr:`seen`, so its cursor moves
        there even when none of them was for it.
        """
        backlog, listener.backlog = listener.backlog, None
        fresh = [entry for entry in backlog if entry.id > cursor] if backlog else []
        return fresh, max(cursor, self._seen)

    def recent(self, seen: Visibility, after: int, limit: int) -> tuple[list[Entry], int] | None:
        """The events after ``after`` that ``seen`` admits (at most ``limit``) and the
        new cursor, from memory; None when memory does not hold every event from
        ``after`` on (the reader reads the log). Like ``read_events``, the cursor moves
        to :attr:`seen` when fewer than ``limit`` were found."""
        if not self.bus.connected:
            return None  # another process's erasure may not have reached this one
        self._trim(time.monotonic())
        if not self._floor <= after <= self._seen:
            return None
        found: list[Entry] = []
        for _handed, entry in reversed(self._recent):
            if entry.id <= after:
                break
            if seen.admits(entry.site_id, entry.visitor_id, entry.private):
                found.append(entry)
        found.reverse()
        if len(found) >= limit:
            del found[limit:]
            return found, found[-1].id
        return found, self._seen

    def forget_recent(self) -> None:
        """Keep no event in memory for readers to take: some were deleted (a visitor
        erased, a site deleted), so every reader reads the log until new ones come."""
        self._recent.clear()
        self._floor = self._seen

    def _trim(self, now: float) -> None:
        recent = self._recent
        oldest = now - RECENT_SECONDS
        while recent and (len(recent) > RECENT or recent[0][0] < oldest):
            self._floor = recent.popleft()[1].id

    def counted_read(self) -> None:
        """Count a listener's own read of the log (a catch-up)."""
        self.reads["catch_up"] += 1

    def _hand(self, entry: Entry) -> None:
        keys = event_keys(entry.site_id, None if entry.private else entry.visitor_id)
        for key in keys:
            group = self._listeners.get(key)
            if not group:
                continue
            for listener in group:
                admitted = listener.seen.admits(entry.site_id, entry.visitor_id, entry.private)
                if admitted and not listener.push(entry, self.backlog):
                    self.overflows += 1

    def _wake(self, keys: Iterable[Key], ephemeral: dict[str, Any] | None = None) -> None:
        for key in keys:
            for listener in self._listeners.get(key, ()):
                if ephemeral is not None:
                    listener.ephemeral.append(ephemeral)
                listener.wake()

    def release(self) -> None:
        """Send every parked listener home: the server is stopping.

        Each wakes, sees :attr:`closing` and ends its response (a long-poll with its
        cursor, a stream cleanly), so the server's connections close at once instead
        of at the end of their waits; a listener that registers later ends at once too.
        """
        self.closing = True
        for group in list(self._listeners.values()):
            for listener in group:
                listener.wake()

    def disconnect(self, principal: Principal) -> None:
        """Wake every listener of ``principal``, in every process, so it re-checks its
        credentials (signed out, password changed, API token revoked, deactivated):
        a stream checks them only then, and once a minute, never at a heartbeat."""
        self._recheck(principal)  # here at once, whether or not the bus is up
        loop = self._loop
        if loop is not None and not loop.is_closed():
            message = {"kind": "recheck", "principal": [principal.kind, principal.id]}
            loop.call_soon_threadsafe(self._publish_soon, message)

    def _recheck(self, principal: Principal) -> None:
        self.recheck_here(principal.kind, (principal.id,))

    def recheck_here(self, kind: str, ids: Collection[str] | None) -> None:
        """Wake this process's listeners of the accounts of ``kind`` with these ids
        (None: of every one) so they re-check their credentials. For a caller whose own
        bus message reaches every process (erased visitors: ``runtime``)."""
        wanted = None if ids is None else set(ids)
        for group in list(self._listeners.values()):
            for listener in group:
                who = listener.principal
                if who is not None and who.kind == kind and (wanted is None or who.id in wanted):
                    listener.recheck = True
                    listener.wake()

    # -- publishing ----------------------------------------------------------------

    def committed(self, event_id: int) -> None:
        """Publish the wake-up for a commit that appended events up to ``event_id``.

        The writer calls it after each such commit, from any thread; before
        :meth:`start` and after :meth:`stop` it does nothing.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._publish_soon, {"kind": "event", "id": event_id})

    def _publish_soon(self, message: Message) -> None:
        self.published += 1
        task = asyncio.ensure_future(self.bus.publish(message))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    def hand_here(self, keys: list[Key], event: Mapping[str, Any]) -> None:
        """Hand ``event`` to the listeners parked under ``keys`` in this process only;
        never stored (each process derives it for its own listeners)."""
        self._wake(keys, dict(event))

    def on_bus(self, kind: str, handler: Callable[[Message], None]) -> None:
        """Have ``handler`` called (on the hub's loop) with every bus message of ``kind``,
        from any process, this one included."""
        self._handlers[kind] = handler

    async def publish_ephemeral(self, keys: list[Key], event: Mapping[str, Any]) -> None:
        """Hand ``event`` to the listeners parked under ``keys`` in every process; never stored."""
        # A Mapping: the hub carries any JSON object, a shape's TypedDict included.
        await self.bus.publish({"kind": "ephemeral", "keys": keys, "event": event})

    def _on_bus(self, message: Message) -> None:
        kind = message.get("kind")
        if kind == "event":
            self._want(int(message["id"]))
        elif kind == "ephemeral":
            self._wake([(str(k[0]), str(k[1])) for k in message["keys"]], message["event"])
        elif kind == "recheck":
            who = message["principal"]
            if who[0] in ("visitor", "operator", "api_token"):
                self._recheck(Principal(who[0], str(who[1])))
        elif isinstance(kind, str) and kind in self._handlers:
            self._handlers[kind](message)

    # -- following the log ---------------------------------------------------------

    def _want(self, event_id: int) -> None:
        for watch in self.watchers:
            watch(event_id)
        if event_id > self._target:
            self._target = event_id
        if not self._listeners:
            # Nobody is parked, so nobody to wake: a listener that parks later reads the
            # log from its own cursor after registering, and so sees these events.
            if self._target > self._seen:
                self._seen = self._target
                self.forget_recent()  # not handed over: memory no longer holds them all
            return
        if self._target > self._seen and (self._fetcher is None or self._fetcher.done()):
            self._fetcher = asyncio.create_task(self._fetch())

    async def refresh(self) -> None:
        """Read the log's new events now (one read shared by every caller meanwhile):
        a long-poll at the end of its wait, in case a wake-up was lost."""
        if self._fetcher is None or self._fetcher.done():
            self._fetcher = asyncio.create_task(self._fetch(force=True))
        await asyncio.shield(self._fetcher)

    async def _fetch(self, *, force: bool = False) -> None:
        try:
            while force or self._target > self._seen:
                force = False
                self.reads["fetch"] += 1
                rows = await self.log.events_after(self._seen)
                if not rows:
                    # The head may lag a wake-up from a batch still being committed elsewhere.
                    self._target = self._seen
                    return
                now = time.monotonic()
                for row in rows:
                    entry = Entry(*row)
                    self._hand(entry)
                    self._recent.append((now, entry))
                # Handed over synchronously with the moves of the cursor: a listener
                # taking its backlog always finds every event through ``seen``.
                self._seen = max(self._seen, rows[-1][0])
                self._trim(now)
                self._target = max(self._target, self._seen)
        except Unavailable:
            pass  # the database is down (logged where met); the next poll retries
        except Exception:
            _log.exception("reading new events failed; the next poll retries")

    async def _pause(self) -> None:
        """Wait until the next poll: ``poll_seconds``, or half a second while the bus is
        disconnected (Redis down), when the poll is how this process learns of the other
        processes' events."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.poll_seconds
        while self.bus.connected:
            left = deadline - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.5))
        await asyncio.sleep(min(self.poll_seconds, 0.5))

    async def _poll(self) -> None:
        failing = False
        while True:
            await self._pause()
            try:
                self.reads["poll"] += 1
                newest = await self.log.head()
            except Exception as exc:
                if not failing:  # once per spell: the database's outage is logged where met
                    _log.warning("event poll failed (%s); retrying every poll", type(exc).__name__)
                failing = True
                continue
            if failing:
                _log.info("event poll works again")
                failing = False
            self._want(newest)
