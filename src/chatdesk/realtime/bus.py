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
    # False while the bus cannot carry wake-ups between processes (Redis down); the hub
    # then polls the event log more often.
    connected: bool

    async def start(self, handler: Handler) -> None:
        """Begin delivering every published message (from any process) to ``handler``."""

    async def publish(self, message: Message) -> None: ...

    async def ping(self) -> bool: ...

    async def stop(self) -> None: ...


class MemoryBus:
    """One process: publishing calls the handler on the next loop turn."""

    connected = True

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
    """Many processes: Redis pub/sub on one channel.

    Redis down never stops the process: ``start`` returns with the bus
    disconnected, publishing drops wake-ups (the hub's poll of the event log
    covers them), and the listener subscribes again every second until Redis
    answers. One line is logged when Redis is lost and one when it is back.
    """

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        from redis.asyncio import Redis

        self.channel = channel
        # Publishing and pinging give up after half a second: a wake-up is only a hint.
        self._redis: Redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        # The subscriber waits as long as the channel is quiet; only connecting is bounded,
        # and a health check every 30 s finds a connection that died silently.
        self._subscriber: Redis = Redis.from_url(
            url, socket_connect_timeout=0.5, health_check_interval=30
        )
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self._publish_failing = False

    async def start(self, handler: Handler) -> None:
        pubsub = await self._subscribe()
        if pubsub is None:
            _log.warning("redis bus: Redis does not answer; events are polled until it does")
        self._task = asyncio.create_task(self._listen(pubsub, handler))

    async def _subscribe(self) -> Any:
        """A subscribed pub/sub connection, or None when Redis does not answer."""
        pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
        except Exception:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            return None
        self.connected = True
        return pubsub

    async def _listen(self, pubsub: Any, handler: Handler) -> None:
        while True:
            if pubsub is None:
                await asyncio.sleep(1)
                pubsub = await self._subscribe()
                if pubsub is not None:
                    _log.warning("redis bus: subscribed again; wake-ups are shared again")
                continue
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
                # poll covers; subscribe again every second.
                _log.warning("redis bus: connection lost; events are polled until it is back")
                self.connected = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                pubsub = None

    async def publish(self, message: Message) -> None:
        try:
            await self._redis.publish(self.channel, json.dumps(message))
        except Exception:
            if not self._publish_failing:  # once per spell, not once per message
                _log.warning("redis publish failed; listeners catch up on their next poll")
            self._publish_failing = True
        else:
            self._publish_failing = False

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
        await self._subscriber.aclose()


def make_bus(redis_url: str | None, database_url: str = "") -> Bus:
    """The bus for this deployment; on Redis its channel is named after the database,
    so deployments sharing one Redis server never hear each other."""
    if not redis_url:
        return MemoryBus()
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return RedisBus(redis_url, f"{CHANNEL}:{digest}")
