"""Operator sign-in: login, logout, me. Sessions live server-side; the cookie is HttpOnly."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from chatdesk.access import require_person, require_session
from chatdesk.actions.auth import record_failed_login, revoke_session
from chatdesk.actions.operators import change_own_password, update_own_profile
from chatdesk.errors import Forbidden, TotpRequired, Unauthorized
from chatdesk.queries.operators import (
    operator_by_email,
    operator_profile,
    password_hash_of,
    signed_in_from,
)
from chatdesk.queries.totp import totp_state
from chatdesk.runtime import Services
from chatdesk.security.passwords import (
    DUMMY_HASH,
    NO_PASSWORD,
    hash_password,
    usable_hash,
    verify_password,
)
from chatdesk.security.sign_in_limits import KNOWN_ADDRESS_DAYS, begin_sign_in
from chatdesk.shape_types import Operator, SignedIn
from chatdesk.web.answers import answers
from chatdesk.web.deps import (
    SESSION_COOKIE,
    AdminWriter,
    CurrentOperator,
    ServicesDep,
    check_same_origin,
    open_session,
    request_ip,
)
from chatdesk.web.routing_sweep import sweep_for
from chatdesk.web.schemas import LoginIn, MePatch, PasswordChangeIn
from chatdesk.web.totp_api import second_factor_passes

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


async def _profile(services: Services, operator_id: str) -> Operator:
    """The operator's own profile, presence included."""
    operator = await services.db.read(lambda conn: operator_profile(conn, operator_id))
    services.operator_presence.stamp([operator])
    return operator


@router.post(
    "/login",
    summary="Sign in with email and password (and the authentication code, with two-factor "
    "sign-in on: 401 `totp_required` without it or with a wrong one)",
    **answers(SignedIn, 401, 403, 422),
)
async def login(
    services: ServicesDep, request: Request, response: Response, body: LoginIn
) -> SignedIn:
    check_same_origin(request)
    email = body.email.strip().lower()
    ip = request_ip(request)
    since = services.clock() - timedelta(days=KNOWN_ADDRESS_DAYS)

    async def known_address() -> bool:
        return await services.db.read(lambda conn: signed_in_from(conn, email, ip, since))

    attempt = await begin_sign_in(services.limiter, email, ip, known_address)
    row = await services.db.read(lambda conn: operator_by_email(conn, email))
    # Verify against a dummy hash for unknown emails so timing does not tell them apart.
    # An invited operator with no password yet is checked against it too: never matches.
    password_hash = usable_hash(row.password_hash) if row is not None else DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, password_hash, body.password)
    # With CHATDESK_PASSWORD_LOGIN=owners the others' passwords never sign in, with the
    # same answer as a wrong one (ADR 0029).
    allowed = row is not None and services.settings.password_login_allowed(row.role)
    if row is None or not ok or not row.active or row.password_hash == NO_PASSWORD or not allowed:
        await services.db.write(record_failed_login, email, ip)
        raise Unauthorized("Wrong email or password.")
    state = await services.db.read(lambda conn: totp_state(conn, row.id))
    if state.enabled:
        # The same answer without a code and with a wrong one (ADR 0022). Asking for the
        # code guesses nothing and gives its counts back; a wrong code counts as a
        # wrong password does.
        code = (body.totp_code or "").strip()
        if not code:
            await attempt.release()
            raise TotpRequired()
        if not await second_factor_passes(services, row.id, state, code, ip):
            await services.db.write(record_failed_login, email, ip, reason="totp")
            raise TotpRequired()
    await attempt.release()  # only failures count (ADR 0004)
    csrf_token = await open_session(services, request, response, row.id, ip=ip)
    return {"operator": await _profile(services, row.id), "csrf_token": csrf_token}


@router.post(
    "/logout",
    status_code=204,
    summary="Sign out; the session is revoked server-side",
    **answers(None, 401, 403, status=204),
)
async def logout(services: ServicesDep, request: Request, actor: AdminWriter) -> Response:
    if actor.session_id is not None:
        session_id = actor.session_id
        ip = request_ip(request)
        await services.db.write(revoke_session, session_id, actor.operator_id, ip)
        services.hub.disconnect(actor.account)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@router.get(
    "/me", summary="The signed-in operator and the CSRF token", **answers(SignedIn, 401, 403)
)
async def me(services: ServicesDep, actor: CurrentOperator) -> SignedIn:
    require_person(actor, "Read your profile")
    return {"operator": await _profile(services, actor.operator_id), "csrf_token": actor.csrf_token}


@router.patch(
    "/me",
    summary="Change your own presence (online or away), name or email notifications",
    **answers(SignedIn, 401, 403, 422),
)
async def patch_me(
    services: ServicesDep, request: Request, actor: AdminWriter, body: MePatch
) -> SignedIn:
    changes = body.changes()
    ip = request_ip(request)
    await services.db.write(update_own_profile, actor, changes, ip=ip)
    if "away" in changes:  # stored: now shown in every process, and told to colleagues
        services.operator_presence.set_away(actor.operator_id, changes["away"])
        if not changes["away"]:
            sweep_for(services, actor.operator_id)
    return {"operator": await _profile(services, actor.operator_id), "csrf_token": actor.csrf_token}


@router.post(
    "/password",
    status_code=204,
    summary="Change your own password; your other sessions end",
    **answers(None, 401, 403, 422, status=204),
)
async def change_password(
    services: ServicesDep, request: Request, actor: AdminWriter, body: PasswordChangeIn
) -> Response:
    # Before the password check, so an API token is no way to guess its operator's password.
    require_session(actor, "Change passwords")
    current = await services.db.read(lambda conn: password_hash_of(conn, actor.operator_id))
    if not await asyncio.to_thread(verify_password, current, body.current_password):
        raise Forbidden("The current password is wrong.")
    password_hash = await asyncio.to_thread(hash_password, body.new_password)
    ip = request_ip(request)
    await services.db.write(change_own_password, actor, password_hash, ip=ip)
    services.hub.disconnect(actor.account)
    return Response(status_code=204)
