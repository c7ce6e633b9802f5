"""The client's address: ``X-Forwarded-For`` is believed only from trusted proxies."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection

__all__ = ["client_ip", "forwarded_by_untrusted_proxy", "ip_allowed"]

_FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


@lru_cache(maxsize=64)
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def ip_allowed(address: str, networks: tuple[str, ...]) -> bool:
    """True when ``address`` is inside one of ``networks``."""
    return _trusted(address, networks)


def _trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(proxies))


def client_ip(conn: HTTPConnection, trusted_proxies: tuple[str, ...]) -> str:
    """The peer address, or the nearest untrusted hop of X-Forwarded-For behind trusted proxies."""
    peer = conn.client.host if conn.client else "unknown"
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in conn.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def forwarded_by_untrusted_proxy(conn: HTTPConnection, trusted_proxies: tuple[str, ...]) -> bool:
    """Whether the request evidently came through a proxy chatdesk does not trust: it
    carries a forwarding header and its peer is a loopback or private address outside
    ``trusted_proxies``. Then every client shares the proxy's address: per-IP limits
    become global, and an address allow-list (``/metrics``) admits the whole Internet."""
    if not any(name in conn.headers for name in _FORWARDING_HEADERS):
        return False
    peer = conn.client.host if conn.client else ""
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return (ip.is_loopback or ip.is_private) and not _trusted(peer, trusted_proxies)
