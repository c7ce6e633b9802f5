"""Password links by email (ADR 0023): ask for a reset link, and set a password with a
reset or invitation link. Neither needs a session."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from chatdesk.actions.password_links import request_password_reset, use_link
from chatdesk.ids import hash_token
from chatdesk.security.passwords import DUMMY_HASH, hash_password, verify_password
from chatdesk.security.principals import Principal
from chatdesk.web.answers import answers
from chatdesk.web.deps import ServicesDep, check_same_origin, request_ip
from chatdesk.web.schemas import PasswordResetConfirmIn, PasswordResetIn

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/password-reset",
    status_code=202,
    response_class=Response,  # no body: nothing for /openapi.json to describe
    summary="Ask for a password reset link by email (202 whatever the address)",
    description=(
        "An active operator with this email gets a single-use link to "
        "`/admin/reset?token=…`, valid `CHATDESK_PASSWORD_RESET_HOURS`. The answer is the "
        "same for every address, known or not, and with email off. Rate limited per "
        "address and per email (429)."
    ),
    **answers(None, 403, 422, 429, status=202),
)
async def password_reset(
    services: ServicesDep, request: Request, body: PasswordResetIn
) -> Response:
    check_same_origin(request)
    email = body.email.strip().lower()
    ip = request_ip(request)
    await services.limiter.hit("password_reset_ip", ip)
    await services.limiter.hit("password_reset_account", email)
    settings = services.settings
    # The same work for every address: one unit of work (an audit entry, and for an
    # operator a link and its email job), and one password hash's worth of time.
    await asyncio.to_thread(verify_password, DUMMY_HASH, body.email)
    await services.db.write(
        request_password_reset,
        email,
        hours=settings.password_reset_hours,
        secret=settings.secret_key.get_secret_value(),
        email_on=settings.email_enabled,
        ip=ip,
    )
    return Response(status_code=202)


@router.post(
    "/password-reset/confirm",
    status_code=204,
    summary="Set your password with the token of a reset or invitation link",
    description=(
        "The token works once, and not after it expires: an unknown, used or expired "
        "token → 400 `token_invalid` (the same answer for each). Every session of the "
        "operator ends; sign in with the new password."
    ),
    **answers(None, 400, 403, 422, 429, status=204),
)
async def password_reset_confirm(
    services: ServicesDep, request: Request, body: PasswordResetConfirmIn
) -> Response:
    check_same_origin(request)
    ip = request_ip(request)
    await services.limiter.hit("password_reset_ip", ip)
    password_hash = await asyncio.to_thread(hash_password, body.password)
    operator_id = await services.db.write(
        use_link, hash_token(body.token.strip()), password_hash, ip=ip
    )
    services.hub.disconnect(Principal("operator", operator_id))
    return Response(status_code=204)
