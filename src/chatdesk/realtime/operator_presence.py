"""Which operators are online: a console stream open somewhere, kept in memory, shared
over the bus (ADR 0015).

Each process counts the console streams (SSE, parked long-polls) each operator holds
open in it, and tells the other processes which operators it holds ("census"
messages on the bus): when the set changes, every ``announce`` seconds, and when a
process asks (it just started, or the bus came back). A process that stays silent
for three of its announce intervals is forgotten (it died without saying goodbye).
From its own streams and the others' censuses every process derives the same view,
so each one tells its own parked operators of a change (an ``operator.presence``
event, never stored, never over the bus, never to a visitor): nobody has to decide
which process announces what.

Presence is shown as:

- ``away``: the operator chose Away (``operators.away``, mirrored here; a change
  travels over the bus), whether connected or not;
- ``online``: connected (a stream open in any process, or closed less than
  ``grace`` seconds ago, so a reconnecting stream does not flicker offline);
- ``offline``: otherwise.

Nothing here runs per message or per heartbeat: a stream's open and close cost a
dict update, and a process publishes one census per change or per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import cast

from chatdesk.clock import Clock, iso
from chatdesk.realtime.bus import Message
from chatdesk.realtime.hub import Hub
from chatdesk.realtime.routing import OPERATORS
from chatdesk.shape_types import Event, Operator, Presence, TeamMember

__all__ = ["EVENT_TYPE", "OperatorPresence"]

_log = logging.getLogger("chatdesk.presence")
EVENT_TYPE = "operator.presence"
# A process not heard of for this many of its announce intervals is gone.
_MISSED = 3
# A process tells the others an operator's last stream here closed only if it stays
# closed this long: a long-poll console polls again within it, and costs no message.
_SETTLE = 1.0
_CENSUS, _SYNC, _AWAY = "presence", "presence.sync", "presence.away"


class _Node:
    """Another process's last census: its operators, until when it holds."""

    __slots__ = ("expires", "operators", "seq")

    def __init__(self, seq: int, operators: frozenset[str], expires: float) -> None:
        self.seq, self.operators, self.expires = seq, operators, expires


class OperatorPresence:
    """This process's view of every operator's presence."""

    def __init__(
        self,
        hub: Hub,
        clock: Clock,
        load_away: Callable[[], Awaitable[Iterable[str]]],
        *,
        grace: float,
        announce: float,
    ) -> None:
        self.hub, self.clock, self.load_away = hub, clock, load_away
        self.grace, self.announce = grace, announce
        self.node = secrets.token_hex(8)
        self._streams: dict[str, int] = {}  # operator id -> console streams open here
        self._nodes: dict[str, _Node] = {}
        self._present: set[str] = set()  # connected, or less than ``grace`` ago
        self._snapshot: frozenset[str] | None = None  # of _present, made when asked
        self._leaving: dict[str, asyncio.TimerHandle] = {}
        self._away: set[str] = set()
        self._away_loaded = False
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Messages for the bus, sent in order by one task; censuses coalesce (each
        # carries the whole set, so only the newest matters).
        self._outgoing: list[Message] = []
        self._census_due = False
        self._census_forced = False
        self._announced: frozenset[str] = frozenset()
        self._wake = asyncio.Event()
        self._bus_was_up = True

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Listen to the other processes and ask them for their censuses; call after
        the hub started."""
        self._loop = asyncio.get_running_loop()
        self.hub.on_bus(_CENSUS, self._on_census)
        self.hub.on_bus(_SYNC, self._on_sync)
        self.hub.on_bus(_AWAY, self._on_away)
        await self._load_away()
        self._bus_was_up = self.hub.bus.connected
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._tick())]
        self._publish({"kind": _SYNC, "node": self.node})

    async def stop(self) -> None:
        """Say goodbye (an empty census); call before the hub stops. The others start
        their grace period for this process's operators, whose consoles reconnect."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for timer in self._leaving.values():
            timer.cancel()
        self._leaving.clear()
        if self._loop is not None:
            self._streams.clear()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await self.hub.bus.publish(self._census())
        self._loop = None

    # -- what the rest of the app asks -----------------------------------------------

    def is_online(self, operator_id: str) -> bool:
        """Connected and not away."""
        return operator_id in self._present and operator_id not in self._away

    def connected(self) -> frozenset[str]:
        """Operators with a console stream open in some process (or within the grace):
        a snapshot, safe to hand to a reader thread."""
        if self._snapshot is None:
            self._snapshot = frozenset(self._present)
        return self._snapshot

    def stamp(self, shapes: Iterable[Operator] | Iterable[TeamMember]) -> None:
        """Fill in ``online`` on operator shapes built from the database, which can only
        tell ``away`` (the stored choice) from ``offline`` (inactive operators included)."""
        for shape in shapes:
            # A team member is active by definition; a deactivated operator's stream may
            # still be within its grace.
            active = cast(Mapping[str, object], shape).get("active", True)
            if shape["presence"] == "offline" and active and shape["id"] in self._present:
                shape["presence"] = "online"

    # -- console streams in this process ---------------------------------------------

    def opened(self, operator_id: str) -> None:
        """A console stream of ``operator_id`` opened here."""
        held = self._streams.get(operator_id, 0)
        self._streams[operator_id] = held + 1
        if held == 0:
            self._publish()  # sent only if the others do not know it yet
            self._arrive(operator_id)

    def closed(self, operator_id: str) -> None:
        """A console stream of ``operator_id`` closed here."""
        held = self._streams.get(operator_id, 0) - 1
        if held > 0:
            self._streams[operator_id] = held
            return
        self._streams.pop(operator_id, None)
        if self._loop is None:
            return  # stopping: the goodbye census says it
        self._loop.call_later(min(_SETTLE, self.grace), self._publish)
        self._maybe_leave(operator_id)

    # -- the away choice -------------------------------------------------------------

    def set_away(self, operator_id: str, away: bool) -> None:
        """The operator chose Away (or Online again), already stored: show it here now
        and tell the other processes."""
        self._choose(operator_id, away)
        self._publish({"kind": _AWAY, "node": self.node, "operator": operator_id, "away": away})

    def _choose(self, operator_id: str, away: bool) -> None:
        before = self._shown(operator_id)
        if away:
            self._away.add(operator_id)
        else:
            self._away.discard(operator_id)
        self._tell(operator_id, before)

    async def _load_away(self) -> None:
        try:
            stored = set(await self.load_away())
        except Exception as exc:  # the database is down: the next tick tries again
            _log.warning("presence: could not read away choices (%s)", type(exc).__name__)
            return
        self._away_loaded = True
        for operator_id in stored ^ self._away:  # choices missed while the bus was down
            self._choose(operator_id, operator_id in stored)

    # -- what this process shows -----------------------------------------------------

    def _shown(self, operator_id: str) -> Presence:
        if operator_id in self._away:
            return "away"
        return "online" if operator_id in self._present else "offline"

    def _tell(self, operator_id: str, before: Presence) -> None:
        """Hand this process's operator listeners the change, if there is one."""
        now = self._shown(operator_id)
        if now == before:
            return
        event: Event = {
            "id": None,
            "type": EVENT_TYPE,
            "conversation_id": None,
            "created_at": iso(self.clock()),
            "data": {"operator_id": operator_id, "presence": now},
        }
        self.hub.hand_here([OPERATORS], event)

    def _connected(self, operator_id: str) -> bool:
        if operator_id in self._streams:
            return True
        return any(operator_id in node.operators for node in self._nodes.values())

    def _arrive(self, operator_id: str) -> None:
        timer = self._leaving.pop(operator_id, None)
        if timer is not None:
            timer.cancel()
        if operator_id not in self._present:
            before = self._shown(operator_id)
            self._present.add(operator_id)
            self._snapshot = None
            self._tell(operator_id, before)

    def _maybe_leave(self, operator_id: str) -> None:
        if operator_id not in self._present or operator_id in self._leaving:
            return
        if self._connected(operator_id) or self._loop is None:
            return
        self._leaving[operator_id] = self._loop.call_later(self.grace, self._leave, operator_id)

    def _leave(self, operator_id: str) -> None:
        self._leaving.pop(operator_id, None)
        if self._connected(operator_id) or operator_id not in self._present:
            return
        before = self._shown(operator_id)
        self._present.discard(operator_id)
        self._snapshot = None
        self._tell(operator_id, before)

    # -- the bus ---------------------------------------------------------------------

    def _census(self) -> Message:
        self._seq += 1
        return {
            "kind": _CENSUS,
            "node": self.node,
            "seq": self._seq,
            "ttl": self.announce * _MISSED,
            "operators": sorted(self._streams),
        }

    def _publish(self, message: Message | None = None, *, force: bool = False) -> None:
        """Queue ``message`` for the bus; None: this process's census, sent when its set
        changed since the last one sent (or with ``force``: a heartbeat, an answer)."""
        if self._loop is None:
            return
        if message is None:
            self._census_due = True
            self._census_forced |= force
        else:
            self._outgoing.append(message)
        self._wake.set()

    async def _send(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._outgoing = self._outgoing, []
            if self._census_due:
                current = frozenset(self._streams)
                if self._census_forced or current != self._announced:
                    batch.append(self._census())
                    self._announced = current
                self._census_due = self._census_forced = False
            for message in batch:
                try:
                    await self.hub.bus.publish(message)  # a lost one is repaired by the next
                except Exception:
                    _log.exception("presence: publishing failed")

    def _on_census(self, message: Message) -> None:
        node_id = str(message["node"])
        if node_id == self.node or self._loop is None:
            return
        seq = int(message["seq"])
        known = self._nodes.get(node_id)
        if known is not None and seq <= known.seq:
            return  # an older census overtaken by a newer one
        operators = frozenset(str(o) for o in message["operators"])
        expires = self._loop.time() + float(message["ttl"])
        # Kept when empty too (until it expires), so an older census arriving late is
        # still recognised as older.
        self._nodes[node_id] = _Node(seq, operators, expires)
        before = known.operators if known is not None else frozenset()
        for operator_id in operators - before:
            self._arrive(operator_id)
        for operator_id in before - operators:
            self._maybe_leave(operator_id)

    def _on_sync(self, message: Message) -> None:
        if message.get("node") != self.node:
            self._publish(force=True)

    def _on_away(self, message: Message) -> None:
        if message.get("node") != self.node:
            self._choose(str(message["operator"]), bool(message["away"]))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.announce)
            try:
                await self._tick_once()
            except Exception:
                _log.exception("presence tick failed")

    async def _tick_once(self) -> None:
        assert self._loop is not None
        up = self.hub.bus.connected
        if up and not self._bus_was_up:
            # The bus is back: censuses and away choices may have been missed meanwhile.
            for node in self._nodes.values():
                node.expires = self._loop.time() + self.announce * _MISSED
            self._publish({"kind": _SYNC, "node": self.node})
            await self._load_away()
        elif not self._away_loaded:
            await self._load_away()
        self._bus_was_up = up
        if self._streams:
            self._publish(force=True)  # still here: the others keep this process's set
        if up:  # while the bus is down the others cannot be heard: nobody expires
            self._expire()

    def _expire(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for node_id, node in list(self._nodes.items()):
            if node.expires <= now:
                del self._nodes[node_id]
                for operator_id in node.operators:
                    self._maybe_leave(operator_id)
