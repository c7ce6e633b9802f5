"""Whether a visitor is here: what the email digest asks before it emails replies.

While email is on, a visitor's open event stream (SSE or long-poll) records
``visitors.last_seen_at`` when it opens, every ``interval`` while it stays open
(at a heartbeat) and, for a stream, when it closes; so a visitor counts as away
once their last stream closed ``CHATDESK_EMAIL_AWAY_SECONDS`` ago, give or take
an interval when a server died without closing it. The marks are rationed per
process (one write per visitor and interval), and cost nothing at all while
email is off. They never wait on the request's path: a mark that fails is lost
(the next one records presence again).
"""

from __future__ import annotations

import asyncio
import logging
import time

from chatdesk.actions.visitors import mark_visitor_seen
from chatdesk.db.runner import Database

__all__ = ["VisitorPresence"]

_log = logging.getLogger("chatdesk.presence")
MAX_TRACKED = 100_000


class VisitorPresence:
    """Rations and sends a process's presence marks."""

    def __init__(self, db: Database, away_seconds: int | None) -> None:
        self.db = db
        # None: email is off, nobody asks whether a visitor is here.
        self.interval = None if away_seconds is None else min(60.0, away_seconds / 5)
        self._marked: dict[str, float] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def seen(self, visitor_id: str, *, now_or_never: bool = False) -> None:
        """Record that ``visitor_id`` is here, unless recorded within the interval
        (``now_or_never``: whatever the interval, as a stream closes)."""
        if self.interval is None:
            return
        now = time.monotonic()
        last = self._marked.get(visitor_id)
        if not now_or_never and last is not None and now - last < self.interval:
            return
        if len(self._marked) >= MAX_TRACKED:
            self._marked.clear()
        self._marked[visitor_id] = now
        task = asyncio.ensure_future(self._write(visitor_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, visitor_id: str) -> None:
        try:
            await self.db.write(mark_visitor_seen, visitor_id)
        except Exception as exc:  # the database is down or stopping: the next mark retries
            self._marked.pop(visitor_id, None)
            _log.debug("presence mark lost (%s)", type(exc).__name__)
