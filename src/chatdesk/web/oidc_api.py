"""Single sign-on with OpenID Connect (ADR 0029): ``GET /auth/oidc/login`` sends the
browser to the issuer, ``GET /auth/oidc/callback`` brings it back signed in, and
``POST /auth/oidc/backchannel-logout`` is where the provider's server ends sign-ins
(ADR 0034; JSON errors like the API's).

The first two are browser navigations, not JSON API calls: they answer with redirects,
and every failure ends on the sign-in page (``/admin/login?sso=<reason>``) with one of
:data:`SSO_MESSAGES`, never a 500. Unknown and deactivated operators get the same
message, so the page tells no more than that this identity cannot sign in here.

A verified email (``email_verified`` true in the ID token) signs in the active
operator with that email, with the same session cookie a password sign-in sets (the
CSRF token comes with ``GET /api/v1/auth/me``); the audit log records ``auth.login``
with ``{"method": "oidc"}``. The identity provider is trusted with the whole
sign-in: an operator's two-factor setting is not asked for again. An email of a
domain in ``CHATDESK_OIDC_ALLOWED_DOMAINS`` with no operator yet creates an agent
(no password, no sites until an admin adds them).
"""

from __future__ import annotations

import hmac
import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from chatdesk.actions.auth import OidcSession, end_oidc_sessions, record_failed_login
from chatdesk.actions.operators import create_operator
from chatdesk.errors import (
    BadRequest,
    Conflict,
    LogoutTokenInvalid,
    NotFound,
    RateLimited,
    Unavailable,
)
from chatdesk.queries.operators import operator_by_email
from chatdesk.runtime import Services
from chatdesk.security.oidc import (
    FLOW_SECONDS,
    LEEWAY_SECONDS,
    FlowCookie,
    FlowState,
    OidcClient,
    OidcError,
)
from chatdesk.security.passwords import NO_PASSWORD
from chatdesk.security.principals import Principal
from chatdesk.settings import Settings
from chatdesk.web.deps import get_services, open_session, own_origin, request_ip

__all__ = ["SSO_MESSAGES", "router", "sign_in_page_context"]

router = APIRouter(prefix="/auth/oidc")
_log = logging.getLogger("chatdesk.oidc")

FLOW_COOKIE = "chatdesk_oidc"
FLOW_PATH = "/auth/oidc"
_NEXT = re.compile(r"^/admin(/[A-Za-z0-9_-]+)*/?$")
NO_STORE = {"Cache-Control": "no-store"}

# What the sign-in page says after a failed single sign-on (``?sso=<reason>``).
SSO_MESSAGES = {
    "unavailable": "Single sign-on is not available right now: chatdesk could not reach "
    "the identity provider. Try again in a moment, or ask an admin.",
    "expired": "That sign-in attempt expired or was started in another browser. Try again.",
    "denied": "The identity provider did not sign you in. Try again.",
    "provider": "The identity provider did not complete the sign-in. Try again.",
    "token": "The identity provider's answer could not be verified. Try again, or ask an admin.",
    "unverified": "Your identity provider has not verified your email address, so it "
    "cannot sign you in here.",
    "not_allowed": "There is no active chatdesk account for you. Ask an admin to add you.",
    "busy": "Too many sign-in attempts from your address. Wait a minute and try again.",
}


def sign_in_page_context(settings: Settings, sso: str | None, next_url: str) -> dict[str, Any]:
    """What the sign-in page shows of single sign-on: the button, and the message of a
    failed attempt (an unknown reason shows nothing)."""
    return {
        "sso_on": settings.oidc_enabled,
        "sso_href": "/auth/oidc/login"
        + ("" if next_url == "/admin" else "?next=" + quote(next_url, safe="/")),
        "sso_message": SSO_MESSAGES.get(sso or "") if settings.oidc_enabled else None,
        "owners_only_password": settings.password_login == "owners",  # noqa: S105 (a mode)
    }


def _client(request: Request, services: Services) -> OidcClient:
    """The app's one client (it caches the issuer's discovery document and keys)."""
    state = request.app.state
    client: OidcClient | None = getattr(state, "oidc_client", None)
    if client is None:
        settings = services.settings
        assert settings.oidc_issuer is not None and settings.oidc_client_id is not None
        secret = settings.oidc_client_secret
        client = OidcClient(
            settings.oidc_issuer,
            settings.oidc_client_id,
            secret.get_secret_value() if secret is not None else None,
        )
        state.oidc_client = client
    return client


def _services(request: Request) -> Services:
    services = get_services(request)
    if not services.settings.oidc_enabled:
        raise NotFound("Single sign-on is not configured.")
    return services


def _flows(services: Services) -> FlowCookie:
    return FlowCookie(services.settings.secret_key.get_secret_value())


def _redirect_uri(request: Request) -> str:
    return own_origin(request) + FLOW_PATH + "/callback"


def _to_sign_in(reason: str, next_url: str = "/admin") -> RedirectResponse:
    target = "/admin/login?sso=" + reason
    if next_url != "/admin":
        target += "&next=" + quote(next_url, safe="/")
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax")
    return response


async def _count_failure(services: Services, ip: str) -> bool:
    """Count a failed or started attempt of ``ip``; False when it is over its limit."""
    try:
        await services.limiter.hit("unauthenticated", ip)
    except RateLimited:
        return False
    return True


@router.get("/login")
async def oidc_login(request: Request, next: str | None = None) -> RedirectResponse:
    """302 to the issuer's authorization endpoint (state, nonce, PKCE S256), with the
    flow cookie set; the sign-in page with a message when the issuer is unreachable."""
    services = _services(request)
    next_url = next if next and _NEXT.match(next) else "/admin"
    if not await _count_failure(services, request_ip(request)):
        return _to_sign_in("busy", next_url)
    flows = _flows(services)
    flow = flows.new(next_url)
    try:
        url = await _client(request, services).authorization_url(flow, _redirect_uri(request))
    except OidcError as exc:
        _log.warning("single sign-on unavailable (%s)", exc)
        return _to_sign_in(exc.reason, next_url)
    now = int(services.clock().timestamp())
    response = RedirectResponse(url, status_code=302, headers=NO_STORE)
    response.set_cookie(
        FLOW_COOKIE,
        flows.dump(flow, now),
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=services.settings.secure_cookies,
    )
    return response


@router.get("/callback")
async def oidc_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    iss: str | None = None,
) -> RedirectResponse:
    """The issuer sends the browser back here: check the state against the flow cookie,
    exchange the code, verify the ID token, sign in; 303 to the console page the
    sign-in started from, or to the sign-in page with a message."""
    services = _services(request)
    ip = request_ip(request)
    now = int(services.clock().timestamp())
    flow = _flows(services).load(request.cookies.get(FLOW_COOKIE, ""), now)
    if flow is None or not state or not _same(state, flow.state):
        await _count_failure(services, ip)
        return _to_sign_in("expired", flow.next if flow else "/admin")
    client = _client(request, services)
    if iss is not None and iss.rstrip("/") != client.issuer:
        # RFC 9207: an answer that names another issuer is another provider's (mix-up).
        _log.warning("single sign-on answer from another issuer refused")
        await _count_failure(services, ip)
        return _to_sign_in("provider", flow.next)
    if error or not code:
        _log.info("single sign-on refused by the identity provider (%s)", (error or "")[:64])
        await _count_failure(services, ip)
        return _to_sign_in("denied", flow.next)
    try:
        tokens = await client.finish(code, flow, _redirect_uri(request), now)
    except OidcError as exc:
        _log.warning("single sign-on failed (%s)", exc)
        await _count_failure(services, ip)
        return _to_sign_in(exc.reason, flow.next)
    claims = tokens.claims
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is not True:
        await _count_failure(services, ip)
        if isinstance(email, str):
            await services.db.write(
                record_failed_login, email.strip().lower(), ip, reason="oidc_unverified"
            )
        return _to_sign_in("unverified", flow.next)
    email = email.strip().lower()
    operator_id = await _operator_for(services, email, claims, ip)
    if operator_id is None:
        await _count_failure(services, ip)
        await services.db.write(record_failed_login, email, ip, reason="oidc")
        return _to_sign_in("not_allowed", flow.next)
    subject = claims.get("sub")
    sid = claims.get("sid")
    oidc = OidcSession(str(subject), sid if isinstance(sid, str) and sid else None)
    return await _signed_in(request, services, operator_id, flow, ip, oidc)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


async def _operator_for(
    services: Services, email: str, claims: dict[str, Any], ip: str
) -> str | None:
    """The active operator with ``email``; a new agent for an allowed domain; else None."""
    row = await services.db.read(lambda conn: operator_by_email(conn, email))
    if row is not None:
        return str(row.id) if row.active else None
    domain = email.rsplit("@", 1)[1]
    if domain not in services.settings.oidc_allowed_domains:
        return None
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        name = email.split("@", 1)[0]
    try:
        made = await services.db.write(
            create_operator,
            None,
            email=email,
            name=name.strip()[:100],
            role="agent",
            password_hash=NO_PASSWORD,
            site_ids=[],
            ip=ip,
        )
    except Conflict:  # a sign-in of the same person at the same moment made it
        row = await services.db.read(lambda conn: operator_by_email(conn, email))
        return str(row.id) if row is not None and row.active else None
    return str(made["id"])


async def _signed_in(
    request: Request,
    services: Services,
    operator_id: str,
    flow: FlowState,
    ip: str,
    oidc: OidcSession,
) -> RedirectResponse:
    response = RedirectResponse(flow.next, status_code=303, headers=NO_STORE)
    await open_session(services, request, response, operator_id, ip=ip, method="oidc", oidc=oidc)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax")
    return response


MAX_LOGOUT_BODY = 16 * 1024  # a logout token is a JWT of a few hundred bytes


@router.post("/backchannel-logout", status_code=200)
async def oidc_backchannel_logout(request: Request) -> Response:
    """The provider posts a signed logout token (``logout_token``, form-encoded) naming
    its subject (``sub``) and/or session (``sid``): the single sign-on sessions it names
    end here and in every process (their streams too). 200 when the token is good,
    whether or not a session was open; 400 with ``logout_token_invalid`` otherwise."""
    services = _services(request)
    ip = request_ip(request)
    token = await _logout_token(request)
    now = int(services.clock().timestamp())
    try:
        logout = await _client(request, services).verify_logout(token, now)
    except OidcError as exc:
        # Counted either way: a stranger's token must not buy a request to the provider
        # for free while it is down.
        await services.limiter.hit("unauthenticated", ip)
        if exc.reason == "unavailable":
            _log.warning("back-channel logout not checked: provider unreachable (%s)", exc)
            raise Unavailable(
                "The identity provider's keys could not be fetched; send the logout again."
            ) from None
        _log.warning("back-channel logout refused (%s)", exc)
        raise LogoutTokenInvalid() from None
    # Sessions begun before the token was issued (a minute's skew allowed): a replayed
    # token cannot end sign-ins made since.
    issued = datetime.fromtimestamp(logout.issued_at + LEEWAY_SECONDS, UTC)
    ended = await services.db.write(
        end_oidc_sessions, logout.sub, logout.sid, issued_at=issued, ip=ip
    )
    for operator_id in ended:
        services.hub.disconnect(Principal("operator", operator_id))
    return Response(status_code=200, headers=NO_STORE)


async def _logout_token(request: Request) -> str:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest("Send logout_token form-encoded (application/x-www-form-urlencoded).")
    body = await request.body()
    if len(body) > MAX_LOGOUT_BODY:
        raise BadRequest("The logout request is too large.")
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=False, max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The logout request is not form-encoded.") from None
    values = fields.get("logout_token", [])
    if len(values) != 1 or not values[0]:
        raise BadRequest("Send exactly one logout_token.")
    return values[0]
