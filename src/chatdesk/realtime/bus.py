"""The wake-up bus: a small interface with a memory and a Redis backend.

The bus carries wake-ups ("events up to id N exist") and ephemeral signals
(typing). It never carries the data readers rely on:
they re-read the event log, so a lost message on the bus costs latency only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Bus", "MemoryBus", "RedisBus", "make_bus"]

Message = dict[str, Any]
Handler = Callable[[Message], None]
_log = logging.getLogger("chatdesk.bus")
CHANNEL = "chatdesk:bus"


class Bus(Protocol):
    async def start(self, handler: Handler) -> None:
        """Begin delivering every published message (from any process) to ``handler``."""

    async def publish(self, message: Message) -> None: ...

    async def ping(self) -> bool: ...

    async def stop(self) -> None: ...


class MemoryBus:
    """One process: publishing calls the handler on the next loop turn."""

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self.dropped = 0
        self.drop_next = 0  # tests: simulate lost wake-ups

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def publish(self, message: Message) -> None:
        if self.drop_next:
            self.drop_next -= 1
            self.dropped += 1
            return
        if self._handler is not None:
            self._handler(message)

    async def ping(self) -> bool:
        return True

    async def stop(self) -> None:
        self._handler = None


class RedisBus:
    """Many processes: Redis pub/sub on one channel."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        from redis.asyncio import Redis

        self.channel = channel
        self._redis: Redis = Redis.from_url(url)
        self._task: asyncio.Task[None] | None = None

    async def start(self, handler: Handler) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)
        self._task = asyncio.create_task(self._listen(pubsub, handler))

    async def _listen(self, pubsub: Any, handler: Handler) -> None:
        while True:
            try:
                async for raw in pubsub.listen():
                    try:
                        handler(json.loads(raw["data"]))
                    except Exception:
                        _log.exception("bus handler failed")
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception:
                # Connection lost: wake-ups may be missed meanwhile, which the event
                # poll covers; resubscribe after a pause.
                _log.warning("redis bus connection lost; resubscribing")
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(self.channel)

    async def publish(self, message: Message) -> None:
        try:
            await self._redis.publish(self.channel, json.dumps(message))
        except Exception:
            _log.warning("redis publish failed; listeners catch up on their next poll")

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._redis.aclose()


def make_bus(redis_url: str | None, database_url: str = "") -> Bus:
    """The bus for this deployment; on Redis its channel is named after the database,
    so deployments sharing one Redis server never hear each other."""
    if not redis_url:
        return MemoryBus()
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return RedisBus(redis_url, f"{CHANNEL}:{digest}")
