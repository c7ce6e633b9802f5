"""Where chatdesk may connect to on someone's say-so: the policy behind webhook URLs (SSRF).

An admin names a webhook's URL; chatdesk then makes requests to it from inside the
network it runs in. Unless ``CHATDESK_WEBHOOK_ALLOW_PRIVATE`` is set, it refuses every
address that is not a public unicast one: loopback, private (RFC 1918, fc00::/7),
link-local (169.254/16, fe80::/10), shared/CGNAT (100.64/10), multicast, reserved,
unspecified, and the cloud metadata endpoints (169.254.169.254, fd00:ec2::254).
IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4, Teredo) are judged by the address they carry.

Two places apply it: :func:`url_problem` when a webhook is saved (scheme, credentials,
a literal address or ``localhost``), and the delivery transport on **every address the
host resolves to**, at connect time (``jobs/transport.py``): a name is only ever
judged by what it resolves to when chatdesk connects.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

__all__ = ["IPAddress", "address_refusal", "literal_address", "url_problem"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What inet_aton reads as an IPv4 address besides the dotted quad: "127.1", "0x7f.0.0.1",
# "2130706433", "0177.0.0.1". Resolvers accept these too, so they are literals here.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")


def _carried(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, if it is one of the forms that carry one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    return None


def address_refusal(address: str | IPAddress) -> str | None:
    """Why connecting to ``address`` is refused ("a loopback address", ...), or None for
    a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address):
        carried = _carried(ip)
        if carried is not None:
            reason = address_refusal(carried)
            return None if reason is None else f"{reason} ({carried}, written in IPv6)"
    checks = (
        (ip in _METADATA, "cloud metadata"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (carrier-grade NAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "non-public"),
    )
    return next((f"a {reason} address" for refused, reason in checks if refused), None)


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is written as one (any form a resolver reads
    as one, "127.1" included), else None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with ``url`` as a webhook's target, or None.

    Refused: a scheme other than http(s), a user name or password in it, no host, a bad
    port; unless ``allow_private``, a host that is ``localhost`` or a literal address
    :func:`address_refusal` refuses. Names are checked when chatdesk connects.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL (check the host and port)"
    if parts.scheme.lower() not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not carry a user name or password"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "has no host"
    if port == 0:
        return "has an invalid port"
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "points at this machine (localhost)"
    ip = literal_address(host)
    reason = address_refusal(ip) if ip is not None else None
    if reason is not None:
        return f"points at {ip}: {reason}"
    return None
