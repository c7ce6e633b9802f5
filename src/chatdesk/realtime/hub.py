"""In-process fan-out: which parked listener must look at the event log again.

The hub learns of new events from the bus (published by any process after its
commit) and from a slow poll of the event log's head (which covers a lost
wake-up and writers with no bus, such as the CLI). It reads only the routing
columns of the new events, once per process, and wakes the listeners whose
keys match; each woken listener then re-reads the log from its own cursor with
its own visibility filter. Ephemeral signals (typing) are handed to matching
listeners directly; they are never stored.

The hub reads the log through the :class:`EventLog` it is given (the app passes
``queries.events.EventLogReader``), so the real-time layer imports no query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from chatdesk.errors import Unavailable
from chatdesk.realtime.bus import Bus, Message
from chatdesk.realtime.routing import Key, event_keys
from chatdesk.security.principals import Principal

__all__ = ["EventLog", "Hub", "Listener", "Route"]

_log = logging.getLogger("chatdesk.hub")
# (event id, site id, visitor id, private): what routing an event needs.
Route = tuple[int, str, str | None, bool]


class EventLog(Protocol):
    """What the hub reads of the event log, each call one short read."""

    async def head(self) -> int:
        """The newest event id (0 for an empty log)."""

    async def routes_after(self, after: int) -> list[Route]:
        """The routing columns of events after ``after``, oldest first (a page of them)."""


class Listener:
    """One parked reader: a flag the hub sets, plus ephemeral events waiting for it."""

    __slots__ = ("_woken", "ephemeral", "keys", "principal", "recheck")

    def __init__(self, keys: tuple[Key, ...], principal: Principal | None) -> None:
        self.keys = keys
        self.principal = principal
        self.recheck = False
        self._woken = asyncio.Event()
        self.ephemeral: list[dict[str, Any]] = []

    def wake(self) -> None:
        self._woken.set()

    def clear(self) -> None:
        self._woken.clear()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False when ``timeout`` passed first."""
        if self._woken.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._woken.wait()
        except TimeoutError:
            return False
        return True

    def take_ephemeral(self) -> list[dict[str, Any]]:
        taken, self.ephemeral = self.ephemeral, []
        return taken


class Hub:
    """Wakes parked listeners when events they may see are committed."""

    def __init__(self, bus: Bus, log: EventLog, *, poll_seconds: float) -> None:
        self.bus = bus
        self.log = log
        self.poll_seconds = poll_seconds
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

    @property
    def parked(self) -> int:
        return sum(len(group) for group in self._listeners.values())

    async def start(self) -> None:
        self._seen = self._target = await self.log.head()
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

    def listen(self, keys: tuple[Key, ...], principal: Principal | None = None) -> Listener:
        listener = Listener(keys, principal)
        for key in keys:
            self._listeners[key].add(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        for key in listener.keys:
            group = self._listeners.get(key)
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._listeners[key]

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
        """Wake every listener of ``principal`` so it re-checks its credentials."""
        for group in list(self._listeners.values()):
            for listener in group:
                if listener.principal == principal:
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

    # -- following the log ---------------------------------------------------------

    def _want(self, event_id: int) -> None:
        if event_id > self._target:
            self._target = event_id
        if not self._listeners:
            # Nobody is parked, so nobody to wake: a listener that parks later reads the
            # log from its own cursor after registering, and so sees these events.
            self._seen = max(self._seen, self._target)
            return
        if self._target > self._seen and (self._fetcher is None or self._fetcher.done()):
            self._fetcher = asyncio.create_task(self._fetch())

    async def _fetch(self) -> None:
        try:
            while self._target > self._seen:
                rows = await self.log.routes_after(self._seen)
                if not rows:
                    # The head may lag a wake-up from a batch still being committed elsewhere.
                    self._target = self._seen
                    return
                for _id, site_id, visitor_id, private in rows:
                    self._wake(event_keys(site_id, None if private else visitor_id))
                self._seen = max(self._seen, rows[-1][0])
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
