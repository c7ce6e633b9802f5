"""Rate limits through the ``limits`` library: moving windows, per IP and per principal.

Counters live in memory (one process) or in Redis when ``CHATDESK_REDIS_URL`` is
set, so every process shares them; both storages update a window atomically.
Each route group has its own limit, configurable as ``CHATDESK_RATE_LIMIT_<GROUP>``
(e.g. ``CHATDESK_RATE_LIMIT_ADMIN_WRITE="30/minute"``).

When Redis does not answer (down, unreachable, timing out after half a second),
requests are counted in this process's memory instead, so every limit still
holds per process; one line is logged when that starts and one when Redis is
back, which is tried again every :data:`RETRY_SECONDS`. ``/metrics`` counts the
requests counted locally and readiness reports the limits as degraded meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from chatdesk.errors import RateLimited

__all__ = ["GROUPS", "RETRY_SECONDS", "Limiter", "RateLimitExceeded"]

RETRY_SECONDS = 5.0  # how often Redis is tried again while limits are counted locally
_log = logging.getLogger("chatdesk.rate_limits")

GROUPS = (
    "login_account_ip",
    "login_ip",
    "login_account",
    "password_reset_ip",
    "password_reset_account",
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
        self,
        limits: dict[str, str],
        *,
        enabled: bool,
        redis_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.rules = {group: _Rule(group, parse(spec)) for group, spec in limits.items()}
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.shared: MovingWindowRateLimiter | None = None
        if redis_url:
            storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix="chatdesk-rl",
                wrap_exceptions=True,  # every Redis failure is a StorageError
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            self.shared = MovingWindowRateLimiter(storage)
        self.clock = clock
        self.rejections = 0
        self.counted_locally = 0  # requests counted in memory because Redis did not answer
        self._retry_at: float | None = None  # set while Redis is down: when to try it again

    @property
    def storage(self) -> Storage:
        """The storage counting now."""
        return self._strategy().storage

    @property
    def degraded(self) -> bool:
        """Whether limits are counted per process because Redis did not answer."""
        return self._retry_at is not None

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
        strategy = self._strategy()
        if strategy is self.local:
            return await self._take(strategy, rule, key)
        try:
            refusal = await self._take(strategy, rule, key)
        except StorageError as exc:
            self._shared_failed(exc)
            return await self._take(self.local, rule, key)
        if self._retry_at is not None:
            self._retry_at = None
            _log.warning("rate limits: Redis answers again; limits are shared again")
        return refusal

    def _strategy(self) -> MovingWindowRateLimiter:
        retry_at = self._retry_at
        if self.shared is None or (retry_at is not None and self.clock() < retry_at):
            return self.local
        return self.shared

    def _shared_failed(self, exc: StorageError) -> None:
        if self._retry_at is None:
            _log.error(
                "rate limits: Redis does not answer (%s); counting per process until it does",
                type(getattr(exc, "storage_error", exc)).__name__,
            )
        self._retry_at = self.clock() + RETRY_SECONDS

    async def _take(
        self, strategy: MovingWindowRateLimiter, rule: _Rule, key: str
    ) -> RateLimitExceeded | None:
        if strategy is self.local and self.shared is not None:
            self.counted_locally += 1
        if await strategy.hit(rule.item, rule.group, key):
            return None
        stats = await strategy.get_window_stats(rule.item, rule.group, key)
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
            from redis.exceptions import RedisError  # here: without Redis, never loaded

            # Redis gone since the take: that one request stays counted, nothing worse.
            with contextlib.suppress(RedisError):
                await client.lpop(storage.bridge.prefixed_key(name))

    async def close(self) -> None:
        """Close the Redis connection pool (``limits`` exposes no public close)."""
        if self.shared is None:
            return
        client = getattr(getattr(self.shared.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()
