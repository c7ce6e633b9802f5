"""Parked listeners (long-poll and SSE) and the operator-reply probes that time delivery."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from rawhttp import Conn, SseReader

__all__ = ["Listeners", "Operator", "Visitor"]

EVENTS = "/api/v1/widget/events"
OPEN_AT_ONCE = 200  # connections being opened concurrently while parking


@dataclass
class Visitor:
    token: str
    conversation_id: str | None = None

    @property
    def auth(self) -> str:
        return f"Bearer {self.token}"


@dataclass
class Operator:
    cookie: str
    csrf: str

    def headers(self) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "cookie": f"chatdesk_session={self.cookie}",
            "x-csrf-token": self.csrf,
        }


@dataclass
class Listeners:
    """Parks one long-poll or SSE listener per visitor and times deliveries to them."""

    port: int
    wait: int = 25
    sent: int = 0
    streaming: int = 0  # SSE streams whose response head arrived
    errors: list[str] = field(default_factory=list)
    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    conns: list[Conn] = field(default_factory=list)
    _gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(OPEN_AT_ONCE))

    def _deliver(self, event: dict[str, Any], now: float) -> None:
        if event.get("type") != "message.created":
            return
        key = event["data"]["message"]["client_msg_id"]
        future = self.waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(now)

    def park(self, visitor: Visitor, mode: str, cursor: int) -> None:
        runner = self._long_poll if mode == "lp" else self._sse
        self.tasks.append(asyncio.ensure_future(runner(visitor, cursor)))

    async def _long_poll(self, visitor: Visitor, cursor: int) -> None:
        conn = Conn(self.port)
        self.conns.append(conn)
        headers = {"authorization": visitor.auth}
        try:
            async with self._gate:
                await conn.open()
                conn.send("GET", f"{EVENTS}?after={cursor}&wait={self.wait}", headers)
                self.sent += 1
            for round_ in range(100_000):
                if round_:
                    conn.send("GET", f"{EVENTS}?after={cursor}&wait={self.wait}", headers)
                status, response_headers, _ = await conn.read_head()
                body = await conn.read_body(response_headers)
                now = time.perf_counter()
                if status != 200:
                    self.errors.append(f"long-poll {status}")
                    return
                data = json.loads(body)
                cursor = data["cursor"]
                for event in data["events"]:
                    self._deliver(event, now)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.errors.append(f"long-poll {type(exc).__name__}")

    async def _sse(self, visitor: Visitor, cursor: int) -> None:
        conn = Conn(self.port)
        self.conns.append(conn)
        headers = {"authorization": visitor.auth, "accept": "text/event-stream"}
        try:
            async with self._gate:
                await conn.open()
                conn.send("GET", f"{EVENTS}?after={cursor}", headers)
                self.sent += 1
                status, _, _ = await conn.read_head()
            if status != 200:
                self.errors.append(f"sse {status}")
                return
            self.streaming += 1
            reader = SseReader(conn)
            for _ in range(1_000_000):
                found = await reader.next_events()
                now = time.perf_counter()
                if found is None:
                    self.errors.append("sse ended")
                    return
                for fields in found:
                    if "data" in fields:
                        self._deliver(json.loads(fields["data"]), now)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.errors.append(f"sse {type(exc).__name__}")

    async def probe(
        self, operator: Operator, conn: Conn, visitor: Visitor, key: str, timeout: float = 10.0
    ) -> tuple[float, float] | None:
        """One operator reply; (delivery seconds, reply POST seconds) or None if undelivered."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        body = json.dumps({"body": f"operator reply {key}", "client_msg_id": key}).encode()
        started = time.perf_counter()
        response = await conn.request(
            "POST",
            f"/api/v1/conversations/{visitor.conversation_id}/messages",
            operator.headers(),
            body,
        )
        posted = time.perf_counter()
        if response.status != 201:
            self.waiting.pop(key, None)
            self.errors.append(f"reply {response.status}")
            return None
        try:
            received = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.waiting.pop(key, None)
            self.errors.append("undelivered")
            return None
        return received - started, posted - started

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for conn in self.conns:
            conn.close()
        self.tasks.clear()
        self.conns.clear()
