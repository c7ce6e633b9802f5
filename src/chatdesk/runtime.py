"""The services one app instance owns, built by ``create_app`` and reached from handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatdesk.clock import Clock
from chatdesk.db.runner import Database
from chatdesk.jobs.worker import Worker
from chatdesk.metrics import Metrics
from chatdesk.realtime.hub import Hub
from chatdesk.realtime.operator_presence import OperatorPresence
from chatdesk.realtime.stream_slots import StreamSlots
from chatdesk.security.auth import VisitorCache
from chatdesk.security.rate_limits import Limiter
from chatdesk.security.signing import FileLinks
from chatdesk.settings import Settings
from chatdesk.storage.base import FileStore

__all__ = ["VISITOR_SESSIONS", "Services"]

# The bus message that ends visitors' sessions in every process.
VISITOR_SESSIONS = "visitor_sessions"


@dataclass
class Services:
    settings: Settings
    db: Database
    hub: Hub
    clock: Clock
    limiter: Limiter
    worker: Worker
    # Which operators are online (ADR 0015).
    operator_presence: OperatorPresence
    # Where attachments' bytes live, and the links that serve them.
    files: FileStore
    file_links: FileLinks
    metrics: Metrics = field(default_factory=Metrics)
    visitor_cache: VisitorCache = field(default_factory=VisitorCache)
    trusted_proxies: tuple[str, ...] = ()
    stream_slots: StreamSlots = field(default_factory=StreamSlots)
    # Set once the log has said that requests come through an untrusted proxy.
    proxy_warned: bool = False
    # Visitors' presence marks for email (None until create_app sets it).
    presence: Any = None

    async def end_visitor_sessions(self, visitor_ids: list[str] | None) -> None:
        """The tokens of these visitors (None: of every visitor) stop working in every
        process: each process's cache forgets them, here at once and elsewhere when the
        bus's message arrives (where no bus joins the processes, the cache is not trusted:
        ``web/deps.current_visitor``), and then their streams re-check, so they end."""
        self.forget_visitors({"visitor_ids": visitor_ids})
        await self.hub.bus.publish({"kind": VISITOR_SESSIONS, "visitor_ids": visitor_ids})

    def forget_visitors(self, message: dict[str, Any]) -> None:
        """The bus's handler of :data:`VISITOR_SESSIONS` (wired by create_app)."""
        # Their events were deleted: no reader may take them from the hub's memory.
        self.hub.forget_recent()
        raw = message.get("visitor_ids")
        ids = None if raw is None else [str(i) for i in raw]
        if ids is None:
            self.visitor_cache.clear()
        else:
            self.visitor_cache.forget(ids)
        # After the cache forgot them: a stream's re-check must not believe it.
        self.hub.recheck_here("visitor", ids)

    @property
    def visitor_cache_trusted(self) -> bool:
        """Whether a cached visitor token may be believed: one SQLite process, no Redis
        configured (the cache's 60 s is then the bound on an erasure reaching other
        processes, and the message path keeps its no-read token check), or a connected
        bus that tells every process of erasures. Not while a configured Redis is down."""
        return self.settings.is_sqlite or self.settings.redis_url is None or self.hub.bus.connected
