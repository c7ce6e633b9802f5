"""Rate limits through the ``limits`` library: moving windows, per IP and per principal.

Counters live in memory (one process) or in Redis when ``CHATDESK_REDIS_URL`` is
set, so every process shares them; both storages update a window atomically.
Each route group has its own limit, configurable as ``CHATDESK_RATE_LIMIT_<GROUP>``
(e.g. ``CHATDESK_RATE_LIMIT_ADMIN_WRITE="30/minute"``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from chatdesk.errors import RateLimited

__all__ = ["GROUPS", "Limiter", "RateLimitExceeded"]

GROUPS = (
    "login_account_ip",
    "login_ip",
    "login_account",
    "admin_write",
    "admin_write_ip",
    "unauthenticated",
    "operator_write",
    "operator_read",
    "widget_session",
    "widget_conversation",
    "visitor_message",
    "visitor_read",
    "typing",
)


class RateLimitExceeded(RateLimited):
    """429 with the ``RateLimit-*`` figures for the response headers."""

    def __init__(self, limit: int, reset: int, message: str) -> None:
        super().__init__(retry_after=reset, message=message)
        self.limit = limit
        self.reset = reset


@dataclass(frozen=True)
class _Rule:
    group: str
    item: RateLimitItem


class Limiter:
    """Checks and counts requests against each group's moving window."""

    def __init__(
        self, limits: dict[str, str], *, enabled: bool, redis_url: str | None = None
    ) -> None:
        self.enabled = enabled
        self.rules = {group: _Rule(group, parse(spec)) for group, spec in limits.items()}
        self.storage: Storage = (
            RedisStorage("async+" + redis_url, implementation="redispy", key_prefix="chatdesk-rl")
            if redis_url
            else MemoryStorage()
        )
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.rejections = 0

    async def hit(self, group: str, key: str) -> None:
        """Count one request of ``key`` in ``group``; RateLimitExceeded when over the limit."""
        refusal = await self.take(group, key)
        if refusal is not None:
            self.rejections += 1
            raise refusal

    async def take(self, group: str, key: str) -> RateLimitExceeded | None:
        """Count one request like :meth:`hit`, but return the refusal instead of raising it
        (nothing is counted when refused)."""
        if not self.enabled:
            return None
        rule = self.rules[group]
        if await self.strategy.hit(rule.item, group, key):
            return None
        stats = await self.strategy.get_window_stats(rule.item, group, key)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimitExceeded(
            rule.item.amount,
            reset,
            f"Too many requests; try again in {reset} seconds.",
        )

    async def give_back(self, group: str, key: str) -> None:
        """Uncount the newest request of ``key`` in ``group`` (one :meth:`take` that turned
        out not to matter, such as a sign-in with the right password).

        ``limits`` has no refund. Both of its moving-window storages keep one timestamp per
        counted request, newest first (a list in memory, a Redis list), so removing the
        head gives exactly one back; tests/security covers both storages.
        """
        if not self.enabled:
            return
        name = self.rules[group].item.key_for(group, key)
        storage = self.storage
        if isinstance(storage, MemoryStorage):
            async with storage.locks[name]:
                entries = storage.events.get(name)
                if entries:
                    del entries[0]
        elif isinstance(storage, RedisStorage):
            client = storage.bridge.storage  # type: ignore[attr-defined]  # redispy bridge
            await client.lpop(storage.bridge.prefixed_key(name))

    async def close(self) -> None:
        """Close the Redis connection pool (``limits`` exposes no public close)."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()
