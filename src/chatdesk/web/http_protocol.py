"""``chatdesk serve``'s HTTP protocol: uvicorn's httptools protocol, with a cap on
request heads and a hang-up hook.

**Hang-ups.** A parked events request must end as soon as its client hangs up (it
holds a stream slot). ASGI tells a request so only through ``receive``, which would
need a task waiting on it per parked request; instead the protocol offers itself in
the scope's extensions (``web.delivery.HANG_UP``), and calls the callback a request
registers there when the connection is lost.

**Lean events.** uvicorn's two ``asyncio.Event`` per connection keep their waiters
in a list instead of a deque of 64 slots (``_lean``): 1.2 KB less per connection.

**Bounded request heads.**

httptools (llhttp) has no limit of its own: it gathers a header value, the URL and
the list of headers for as long as the client sends them, so four connections with
200 MB headers took a server's peak RSS from 83 MB to over 1 GB (and 200 s of CPU
joining the pieces of one header value). h11 has a bound
(``h11_max_incomplete_event_size``), but parsing in pure Python cost about 70 µs more
CPU per message POST than httptools, measured in one process; this check costs under
1 µs.

The head (request line and headers) is counted as it arrives, before the parser sees
it: at most ``max_head_bytes`` of a head are ever fed to the parser, and a head that
is not complete by then is answered 431 and its connection closed; so is a head with
more than ``max_headers`` headers. Everything else is uvicorn's own protocol.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chatdesk.web.delivery import HANG_UP

__all__ = ["HeadTooLarge", "bounded_protocol"]


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the limits."""


def _refusal(message: str) -> bytes:
    body = json.dumps(
        {"error": {"code": "bad_request", "message": message, "details": None}}
    ).encode()
    return b"".join(
        [
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _BoundedProtocol(HttpToolsProtocol):
    # In slots, not in the instance's dict: uvicorn's protocol sets about thirty
    # attributes, the most a dict can share keys for, and three more made every
    # connection's dict a table of its own (1,584 bytes instead of 288).
    __slots__ = ("_completed", "_head_bytes", "_in_head", "_lost", "_on_hang_up")
    max_head_bytes = 32768
    max_headers = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Between two requests the next bytes are a head: counting starts at once.
        self._in_head = True
        self._head_bytes = 0
        self._completed = 0  # requests whose whole message was parsed
        self._on_hang_up: Callable[[], None] | None = None
        self._lost = False

    def on_hang_up(self, callback: Callable[[], None] | None) -> None:
        """Have ``callback`` called once when the connection is lost, at once if it is
        already (None: no longer). A request registers only once it is about to wait,
        so its client may have gone while it was being authenticated or read."""
        if callback is not None and self._lost:
            callback()
            return
        self._on_hang_up = callback

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, Any] = {HANG_UP: self}
        self.scope["extensions"] = extensions

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._lost = True
        callback, self._on_hang_up = self._on_hang_up, None
        if callback is not None:
            callback()

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            self._feed(data)
            return
        room = self.max_head_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            self._feed(data)
            return
        # Only what the limit allows goes to the parser; if the head ends in it, the
        # rest is the body (or the next request) and is fed as usual.
        self._head_bytes = self.max_head_bytes
        completed = self._completed
        self._feed(data[:room])
        if self.transport.is_closing():
            return
        # Still in a head, and the same one (a pipelined request may have ended and the
        # next begun inside those bytes: that head is counted from the next bytes on).
        if self._in_head and self._completed == completed:
            self._refuse(f"The request line and headers are over {self.max_head_bytes} bytes.")
            return
        self.data_received(data[room:])

    def _feed(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refuse(str(exc.__context__))
            else:
                self._invalid()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            self._invalid()

    def _invalid(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def _refuse(self, message: str) -> None:
        # A response still being written on this connection (a pipelined request
        # before this one) must not be interleaved with: then the close says it all.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_refusal(message))
        self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self.flow is not None:
            _lean(self.flow._is_writable_event)

    def on_headers_complete(self) -> None:
        self._in_head = False
        # Counted once the head is whole, not per header (a call less on every header):
        # the byte bound already keeps the list small.
        if len(self.headers) > self.max_headers:
            raise HeadTooLarge(f"The request has more than {self.max_headers} headers.")
        super().on_headers_complete()
        if self.cycle is not None:
            _lean(self.cycle.message_event)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._completed += 1
        super().on_message_complete()


def _lean(event: asyncio.Event) -> None:
    """An ``asyncio.Event`` keeps its waiters in a deque, which takes a block of 64
    slots (624 bytes) at once; uvicorn makes two per connection (its flow control, and
    each request's), and at most one task waits on either. An empty list does the same
    for the event (append, remove, iterate) and takes nothing until used. Done only to
    a new event's empty deque."""
    waiters = getattr(event, "_waiters", None)
    if isinstance(waiters, collections.deque) and not waiters:
        event._waiters = []  # type: ignore[assignment]


def bounded_protocol(max_head_bytes: int, max_headers: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, refusing heads over ``max_head_bytes`` bytes (the
    request line and headers) or ``max_headers`` headers with 431; for ``http=``."""
    head_bytes, headers = max_head_bytes, max_headers

    class BoundedHttpToolsProtocol(_BoundedProtocol):
        max_head_bytes = head_bytes
        max_headers = headers

    return BoundedHttpToolsProtocol
