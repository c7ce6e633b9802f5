"""The HTTP client of webhook deliveries, safe to point at a URL an admin typed (SSRF).

httpcore's connection pool over a network backend of ours (:class:`GuardedBackend`)
that resolves the host **once**, refuses the connection if **any** address it resolves
to is refused by :func:`chatdesk.security.outbound.address_refusal` (unless private
addresses are allowed), and connects to the checked address itself. httpcore still
sends the URL's host in ``Host`` and as the TLS server name, and verifies the
certificate for that name, so a name that resolves elsewhere between check and
connect (DNS rebinding) cannot move the connection. Redirects are never followed
(httpcore has no such thing; a 3xx is an answer like any other). Each request has a
connect timeout, an overall deadline, and reads at most :data:`MAX_RESPONSE_BYTES`
of the answer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore

from chatdesk.security.outbound import address_refusal

__all__ = [
    "MAX_RESPONSE_BYTES",
    "AddressRefused",
    "GuardedBackend",
    "Resolver",
    "WebhookClient",
    "resolve",
]

MAX_RESPONSE_BYTES = 64 * 1024
CONNECT_SECONDS = 5.0
USER_AGENT = b"chatdesk-webhooks/1"

Resolver = Callable[[str, int], Awaitable[list[str]]]


class AddressRefused(Exception):
    """The host resolves to an address deliveries may not reach; nothing was sent."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, each once."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, check every address, connect to a checked one (see the module)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self._resolve = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self._resolve(host, port), timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        if not self.allow_private:
            for address in addresses:
                reason = address_refusal(address)
                if reason is not None:
                    raise AddressRefused(f"{host} resolves to {address}: {reason}")
        failure: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("deliveries never use a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class WebhookClient:
    """POSTs with the guarded backend; one keep-alive pool per worker."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float,
        max_connections: int,
        resolver: Resolver = resolve,
    ) -> None:
        self.timeout = timeout
        self._backend = GuardedBackend(allow_private=allow_private, resolver=resolver)
        self._max_connections = max_connections
        # Made at the first delivery: a process that never sends one loads no CA bundle.
        self._pool: httpcore.AsyncConnectionPool | None = None
        connect = min(CONNECT_SECONDS, timeout)
        self._timeouts = {"connect": connect, "read": timeout, "write": timeout, "pool": timeout}

    async def post(self, url: str, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> int:
        """POST ``body``; the answer's status. Raises :class:`AddressRefused`, httpcore's
        errors, or TimeoutError past ``timeout`` seconds for the whole exchange."""
        headers = [*headers, (b"User-Agent", USER_AGENT)]
        if self._pool is None:
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=httpcore.default_ssl_context(),  # one CA bundle, loaded once
                max_connections=self._max_connections,
                keepalive_expiry=30.0,
                network_backend=self._backend,
            )
        async with asyncio.timeout(self.timeout):
            async with self._pool.stream(
                "POST", url, headers=headers, content=body, extensions={"timeout": self._timeouts}
            ) as response:
                read = 0
                async for chunk in response.aiter_stream():
                    read += len(chunk)
                    if read >= MAX_RESPONSE_BYTES:
                        break  # the connection is closed, not reused
                return int(response.status)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
