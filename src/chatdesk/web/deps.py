"""Request dependencies: services, the client address, and who the caller is.

Operators authenticate with the session cookie (unsafe methods also need the
``X-CSRF-Token`` header and, when the browser sends one, a same-origin
``Origin``) or with ``Authorization: Bearer <api token>``. Visitors use
``Authorization: Bearer <visitor token>``; the two kinds are never interchangeable.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response

from chatdesk.actions.auth import OidcSession, create_session, touch_session
from chatdesk.actions.visitors import touch_visitor_token
from chatdesk.errors import Forbidden, TotpSetupRequired, Unauthorized
from chatdesk.runtime import Services
from chatdesk.security.auth import (
    SessionState,
    operator_from_api_token,
    operator_from_session,
    visitor_state,
)
from chatdesk.security.network import client_ip, forwarded_by_untrusted_proxy, ip_allowed
from chatdesk.security.principals import OperatorActor, Principal, VisitorActor

__all__ = [
    "ADMIN_LIMITS",
    "OPERATOR_LIMITS",
    "SESSION_COOKIE",
    "AdminWriter",
    "CurrentOperator",
    "ServicesDep",
    "VisitorCall",
    "check_same_origin",
    "get_services",
    "limit_ip",
    "own_origin",
    "request_ip",
    "session_state",
    "signed_in_visitor",
    "still_signed_in",
    "visitor_call",
]

_log = logging.getLogger("chatdesk.web")

SESSION_COOKIE = "chatdesk_session"


async def open_session(
    services: Services,
    request: Request,
    response: Response,
    operator_id: str,
    *,
    ip: str,
    method: str | None = None,
    oidc: OidcSession | None = None,
) -> str:
    """Sign a verified operator in (password, passkey or single sign-on): a new session
    and its cookie on ``response``; returns the session's CSRF token."""
    settings = services.settings
    lifetime = timedelta(hours=settings.session_absolute_hours)
    _session_id, token, csrf_token = await services.db.write(
        create_session,
        operator_id,
        lifetime=lifetime,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        method=method,
        oidc=oidc,
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return csrf_token


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
TOUCH_EVERY = timedelta(minutes=1)
# All a session signed in with a temporary password may do until it chose its own.
WHILE_TEMPORARY = {
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/logout"),
}
# All a session may do while an owner requires two-factor sign-in it has not set up.
WHILE_TOTP_SETUP = {
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/totp/setup"),
    ("POST", "/api/v1/auth/totp/enable"),
    ("POST", "/api/v1/auth/logout"),
}
# A visitor token's last use is recorded at most this often (and at most every tenth of
# the inactivity limit), so expiry costs no read and a write only now and then.
VISITOR_TOUCH_EVERY = timedelta(days=1)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _services(request: Request) -> Services:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, per request.
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services)]


def request_ip(request: Request) -> str:
    services = get_services(request)
    if not services.proxy_warned and forwarded_by_untrusted_proxy(
        request, services.trusted_proxies
    ):
        services.proxy_warned = True  # once per process: loud, not a line per request
        peer = request.client.host if request.client else "?"
        _log.warning(
            "Requests arrive through a proxy at %s (they carry X-Forwarded-For or "
            "Forwarded) that CHATDESK_TRUSTED_PROXIES does not list: every client shares "
            "the proxy's address, so per-IP rate limits count all clients together and "
            "/metrics refuses forwarded requests. Set CHATDESK_TRUSTED_PROXIES=%s.",
            peer,
            peer,
        )
    return client_ip(request, services.trusted_proxies)


def bearer(request: Request) -> str | None:
    headers = request.headers.getlist("authorization")
    if not headers:
        return None
    if len(headers) > 1:
        raise Unauthorized("Send one Authorization header.")
    header = headers[0]
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'.")
    return token.strip()


async def current_visitor(request: Request) -> VisitorActor:
    services = get_services(request)
    token = bearer(request)
    if token is None:
        raise Unauthorized("A visitor token is required.")
    now = services.clock()
    idle = timedelta(days=services.settings.visitor_token_idle_days)
    state = services.visitor_cache.get(token) if services.visitor_cache_trusted else None
    if state is None or now - state.last_used_at >= idle:
        # Not cached, or unused too long as far as this process knows: another process
        # may have seen the token since, so the database decides. So it does while no
        # bus could tell this process of an erasure elsewhere (PostgreSQL without Redis,
        # or Redis down): one read by primary key.
        state = await services.db.read(lambda conn: visitor_state(conn, token))
        if state is None:
            raise Unauthorized("The visitor token is not valid.")
        if now - state.last_used_at >= idle:
            services.visitor_cache.drop(state)
            raise Unauthorized(
                f"The visitor token expired after {idle.days} days without use; "
                "start a new session."
            )
        services.visitor_cache.put(state)
    if now - state.last_used_at >= min(VISITOR_TOUCH_EVERY, idle / 10):
        # Awaited, like an operator session's touch; rare: once per interval and process.
        await services.db.write(touch_visitor_token, state.actor.token_hash)
        state.last_used_at = now
    _log_principal(request, state.actor.principal)
    return state.actor


def own_origin(request: Request) -> str:
    """chatdesk's own origin as the browser sees it.

    ``CHATDESK_PUBLIC_URL`` when set; else the ``X-Forwarded-Proto``/``-Host`` a proxy in
    ``CHATDESK_TRUSTED_PROXIES`` sent (a stock proxy rewrites Host, so the browser's
    origin is only in those); else the request's own scheme and Host. Forwarded headers
    from any other peer are ignored: they are the client's to invent.
    """
    services = get_services(request)
    public_url = services.settings.public_url
    if public_url:
        parts = urlsplit(public_url.strip())
        return _origin(parts.scheme, parts.netloc)
    scheme, host = request.url.scheme, request.headers.get("host", "")
    peer = request.client.host if request.client else ""
    if services.trusted_proxies and ip_allowed(peer, services.trusted_proxies):
        proto = _nearest(request.headers.get("x-forwarded-proto")).lower()
        scheme = proto if proto in _DEFAULT_PORTS else scheme
        host = _nearest(request.headers.get("x-forwarded-host")) or host
    return _origin(scheme, host)


def _nearest(header: str | None) -> str:
    """The value the nearest proxy set: the last of a comma-separated list."""
    return (header or "").rsplit(",", 1)[-1].strip()


def _origin(scheme: str, host: str) -> str:
    # Browsers leave the scheme's default port out of Origin; so must we.
    scheme, host = scheme.lower(), host.lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None:
        host = host.removesuffix(default)
    return f"{scheme}://{host}"


def check_same_origin(request: Request) -> None:
    """Refuse a browser request whose ``Origin`` is another site (login CSRF included)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() != own_origin(request):
        raise Forbidden("Cross-origin request refused.")


def _check_csrf(request: Request, services: Services, csrf_token: str) -> None:
    check_same_origin(request)
    sent = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(sent.encode(), csrf_token.encode()):
        raise Forbidden("A valid X-CSRF-Token header is required.")


async def session_state(request: Request) -> SessionState | None:
    """The live session behind the request's cookie, if any (console pages use it too)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    services = get_services(request)
    now = services.clock()
    idle = timedelta(minutes=services.settings.session_idle_minutes)
    return await services.db.read(lambda conn: operator_from_session(conn, cookie, now, idle))


async def still_signed_in(request: Request, actor: OperatorActor) -> bool:
    """Whether the credential a long-lived stream was opened with is still good."""
    if actor.api_token_id is None:
        return await session_state(request) is not None
    token = bearer(request)
    if token is None:
        return False
    services = get_services(request)
    return await services.db.read(lambda conn: operator_from_api_token(conn, token)) is not None


async def current_operator(request: Request) -> OperatorActor:
    """The operator behind the request's API token or session cookie.

    A request that fails to authenticate is counted against the ``unauthenticated``
    limit of its address (and gets 429 past it): it never spends an operator's budget.
    """
    try:
        return await _authenticate_operator(request)
    except Unauthorized:
        await get_services(request).limiter.hit("unauthenticated", request_ip(request))
        raise


def _log_principal(request: Request, principal: Principal) -> None:
    """Name the caller on the request's log line (web/middleware.py). Written to the
    scope's state, not through ``request.state``, which would add a ``State`` to the
    request: a parked events request holds its request for its whole wait."""
    request.scope.setdefault("state", {})["principal"] = str(principal)


async def _authenticate_operator(request: Request) -> OperatorActor:
    services = get_services(request)
    token = bearer(request)
    if token is not None:
        actor = await services.db.read(lambda conn: operator_from_api_token(conn, token))
        if actor is None:
            raise Unauthorized("The API token is not valid.")
        _log_principal(request, actor.principal)
        return actor
    if not request.cookies.get(SESSION_COOKIE):
        raise Unauthorized("Sign in first.")
    state = await session_state(request)
    if state is None:
        raise Unauthorized("Your session has ended; sign in again.")
    now = services.clock()
    actor = state.actor
    _log_principal(request, actor.principal)
    if request.method in UNSAFE:
        assert actor.csrf_token is not None
        _check_csrf(request, services, actor.csrf_token)
    if actor.must_change_password and (request.method, request.url.path) not in WHILE_TEMPORARY:
        raise Forbidden(
            "Choose a new password first: the one you signed in with was temporary.",
            {"reason": "password_change_required"},
        )
    if actor.totp_setup_required and (request.method, request.url.path) not in WHILE_TOTP_SETUP:
        raise TotpSetupRequired()
    if now - state.last_seen_at > TOUCH_EVERY and actor.session_id is not None:
        session_id = actor.session_id
        # Awaited (once a minute per session), so the next request sees the slid window.
        await services.db.write(touch_session, session_id)
    return actor


CurrentOperator = Annotated[OperatorActor, Depends(current_operator)]


async def _count_admin_write(request: Request, actor: OperatorActor) -> None:
    # After authentication, per principal and per address: a client that cannot sign in
    # spends only its own (``unauthenticated``) budget, never the admins' behind its NAT.
    # The address's budget is larger than one principal's, so no single operator (nor a
    # token) can use it all up for their colleagues.
    limiter = get_services(request).limiter
    await limiter.hit("admin_write", str(actor.principal))
    await limiter.hit("admin_write_ip", request_ip(request))


async def admin_writer(request: Request, actor: CurrentOperator) -> OperatorActor:
    """The signed-in operator, counted against the ``admin_write`` limit."""
    await _count_admin_write(request, actor)
    return actor


AdminWriter = Annotated[OperatorActor, Depends(admin_writer)]


@dataclass(frozen=True, slots=True)
class VisitorCall:
    """A signed-in visitor's request: the services and who is calling."""

    services: Services
    actor: VisitorActor


async def signed_in_visitor(
    request: Request, group: str, *, ip_group: str | None = None
) -> VisitorCall:
    """Authenticate a visitor request, then count it against ``group`` by visitor (and
    ``ip_group`` by client IP first, when given)."""
    services = get_services(request)
    if ip_group is not None:
        await services.limiter.hit(ip_group, request_ip(request))
    actor = await current_visitor(request)
    await services.limiter.hit(group, str(actor.principal))
    return VisitorCall(services, actor)


def visitor_call(group: str, *, ip_group: str | None = None) -> Any:
    """The one dependency of a visitor route (:func:`signed_in_visitor`).

    One dependency instead of three: FastAPI resolves each with a nested solve,
    and these routes carry the widget's traffic.
    """

    async def dependency(request: Request) -> VisitorCall:
        return await signed_in_visitor(request, group, ip_group=ip_group)

    return Depends(dependency)


def limit_ip(group: str) -> Any:
    """A route dependency counting the request against ``group`` by client IP."""

    async def by_ip(request: Request) -> None:
        await get_services(request).limiter.hit(group, request_ip(request))

    return Depends(by_ip)


async def _operator_by_method(request: Request, actor: CurrentOperator) -> None:
    group = "operator_write" if request.method in UNSAFE else "operator_read"
    await get_services(request).limiter.hit(group, str(actor.principal))


async def _admin_writes(request: Request, actor: CurrentOperator) -> None:
    if request.method in UNSAFE:
        await _count_admin_write(request, actor)


# Router-level limits: every operator call counts per principal (reads and writes
# apart); settings writes also count against ``admin_write``.
OPERATOR_LIMITS = [Depends(_operator_by_method)]
ADMIN_LIMITS = [Depends(_admin_writes), Depends(_operator_by_method)]
