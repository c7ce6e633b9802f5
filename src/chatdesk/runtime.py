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

__all__ = ["Services"]


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
