"""The HTTP client of webhook deliveries, safe to point at a URL an admin typed (SSRF).

Each new connection resolves the host **once**, is refused if **any** address it
resolves to is refused by :func:`chatdesk.security.outbound.address_refusal` (unless
private addresses are allowed), and connects to a checked address itself, with the
URL's host in ``Host`` and, over TLS, as the server name the certificate is verified
for: a name that resolves elsewhere between check and connect (DNS rebinding) cannot
move the connection. Redirects are never followed (a 3xx is an answer like any other).
Each exchange has a connect timeout and an overall deadline, and reads at most
:data:`MAX_RESPONSE_BYTES` of the answer.

Why not a general client: measured on the delivery path (bench/outbox.py), httpcore's
pool cost about 0.5 ms of the event loop per request sent one at a time and more when
sixteen were in flight (its pool re-checks every connection at every request); this
client, one request per keep-alive connection with httptools' C parser (uvicorn's),
costs a fraction of it, and the loop it shares with requests is the server's busiest
thread.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from urllib.parse import quote, urlsplit

import httptools

from chatdesk.security.outbound import address_refusal

__all__ = [
    "MAX_RESPONSE_BYTES",
    "AddressRefused",
    "ProtocolError",
    "Resolver",
    "WebhookClient",
    "resolve",
]

MAX_RESPONSE_BYTES = 64 * 1024
CONNECT_SECONDS = 5.0
IDLE_SECONDS = 10.0  # a kept-alive connection unused this long is closed, not reused
USER_AGENT = b"chatdesk-webhooks/1"

# A URL's path and query go out as written; only what is not printable ASCII is escaped.
_PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F))

Resolver = Callable[[str, int], Awaitable[list[str]]]
Origin = tuple[str, str, int]  # scheme, host, port


class AddressRefused(Exception):
    """The host resolves to an address deliveries may not reach; nothing was sent."""


class ProtocolError(Exception):
    """The receiver's answer is not HTTP/1.1 as it should be, or closed before its end."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, each once."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve {host}: {exc.strerror}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@lru_cache(maxsize=256)
def _request_head(url: str) -> tuple[Origin, bytes]:
    """Where ``url`` goes, and the head lines every POST to it starts with (a webhook's
    URL changes rarely: parsed once)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("only http:// and https:// URLs with a host")
    host = parts.hostname
    port = parts.port or (443 if scheme == "https" else 80)
    default = port == (443 if scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    authority = shown if default else f"{shown}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [
        b"POST " + quote(target, safe=_PRINTABLE).encode() + b" HTTP/1.1",
        b"Host: " + (authority.encode() if authority.isascii() else authority.encode("idna")),
        b"User-Agent: " + USER_AGENT,
    ]
    return (scheme, host, port), b"\r\n".join(head)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one exchange at a time; its answer's status."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.lost = asyncio.get_running_loop().create_future()  # done once closed
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[int] | None = None
        self._read = 0
        self._status = 0
        self._complete = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._read += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"not an HTTP answer ({exc})"))
            return
        if not self._complete and self._read >= MAX_RESPONSE_BYTES:
            # Enough: the status is known (or never will be); the rest is not read.
            if self._status:
                self._finish(self._status)
            else:
                self._fail(ProtocolError("the answer's head is too large"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        if self._status:  # an answer read until the connection closed
            self._finish(self._status)
        self._fail(ProtocolError("the receiver closed the connection before answering"))

    # httptools' callbacks

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_message_complete(self) -> None:
        self._complete = True
        keep = self._parser.should_keep_alive()
        self._finish(self._status, keep_alive=keep)

    # the exchange

    @property
    def answered_nothing(self) -> bool:
        """Whether the last exchange failed before a byte of answer came."""
        return self._read == 0

    async def exchange(self, request: bytes) -> int:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._read, self._status, self._complete = 0, 0, False
        self.transport.write(request)
        try:
            return await self._answer
        except BaseException:  # cancelled (the deadline) or failed: never reused
            self.close()
            raise

    def _finish(self, status: int, *, keep_alive: bool = False) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(status)
        if not keep_alive:
            self.close()

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class WebhookClient:
    """POSTs to webhook URLs, keeping connections alive per origin (see the module)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float,
        max_connections: int,
        resolver: Resolver = resolve,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls``: the context https deliveries verify with (default: the system's CAs,
        made at the first https delivery)."""
        self.allow_private = allow_private
        self.timeout = timeout
        self._max_idle = max_connections
        self._resolve = resolver
        self._idle: dict[Origin, list[_Connection]] = defaultdict(list)
        self._ssl = tls

    async def post(self, url: str, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> int:
        """POST ``body``; the answer's status. Raises :class:`AddressRefused`,
        :class:`ProtocolError`, OSError (connection failures, TLS), ValueError (a URL
        that cannot be sent to), or TimeoutError past ``timeout`` for the exchange."""
        origin, request = self._request(url, headers, body)
        async with asyncio.timeout(self.timeout):
            connection = self._take(origin)
            if connection is not None:
                try:
                    status = await connection.exchange(request)
                except ProtocolError:
                    # A kept-alive connection the receiver had closed meanwhile (its idle
                    # timeout): nothing was answered; once more on a new connection.
                    if not connection.answered_nothing:
                        raise
                    connection = None
            if connection is None:
                connection = await self._connect(origin)
                status = await connection.exchange(request)
        if not connection.closed:
            connection.idle_since = time.monotonic()
            idle = self._idle[origin]
            if len(idle) < self._max_idle:
                idle.append(connection)
            else:
                connection.close()
        return status

    def _request(
        self, url: str, headers: Sequence[tuple[bytes, bytes]], body: bytes
    ) -> tuple[Origin, bytes]:
        origin, head = _request_head(url)
        lines = [head, b"Content-Length: " + str(len(body)).encode()]
        lines += [name + b": " + value for name, value in headers]
        return origin, b"\r\n".join(lines) + b"\r\n\r\n" + body

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        async with asyncio.timeout(min(CONNECT_SECONDS, self.timeout)):
            addresses = await self._resolve(host, port)
            if not self.allow_private:
                for address in addresses:
                    reason = address_refusal(address)
                    if reason is not None:
                        raise AddressRefused(f"{host} resolves to {address}: {reason}")
            tls = self._tls() if scheme == "https" else None
            loop = asyncio.get_running_loop()
            failure: OSError = ConnectionError(f"{host} resolves to no address")
            for address in addresses:
                try:
                    # The address checked, never the name again.
                    transport, connection = await loop.create_connection(
                        _Connection, host=address, port=port
                    )
                except OSError as exc:
                    failure = exc
                    continue
                if tls is not None:
                    # TLS for the URL's name (SNI, certificate check). Started here rather
                    # than by create_connection, so a failed handshake's socket is closed.
                    try:
                        secure = await loop.start_tls(
                            transport, connection, tls, server_hostname=host
                        )
                    except BaseException:
                        transport.close()
                        raise
                    assert isinstance(secure, asyncio.Transport)
                    connection.transport = secure
                return connection
            raise failure

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()  # the system's CAs, hostname checked
        return self._ssl

    async def aclose(self) -> None:
        """Close the connections kept alive, and wait until their sockets are."""
        connections = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for connection in connections:
            connection.closed = True
            if connection.transport is not None:
                connection.transport.abort()  # no TLS goodbye to wait for
        if connections:
            await asyncio.wait([c.lost for c in connections], timeout=1.0)
