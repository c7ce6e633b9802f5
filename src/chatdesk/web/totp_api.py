"""Two-factor sign-in with TOTP (ADR 0022): set up, turn on, turn off; and the second
step of signing in, which ``auth_api.login`` calls once the password was right."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from chatdesk.access import require_person, require_session
from chatdesk.actions.totp import (
    accept_totp_step,
    admin_reset_totp,
    begin_totp_setup,
    disable_totp,
    enable_totp,
    use_recovery_code,
)
from chatdesk.errors import Conflict, Forbidden, ValidationFailed
from chatdesk.queries.operators import password_hash_of
from chatdesk.queries.org_settings import security_policy
from chatdesk.queries.totp import TotpState, totp_state
from chatdesk.runtime import Services
from chatdesk.security.passwords import verify_password
from chatdesk.security.principals import OperatorActor
from chatdesk.security.totp import (
    TotpSecrets,
    looks_like_totp_code,
    matching_step,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    recovery_code_hash,
)
from chatdesk.shape_types import RecoveryCodes, TotpSetup
from chatdesk.web.answers import answers
from chatdesk.web.deps import AdminWriter, ServicesDep, request_ip
from chatdesk.web.schemas import TotpDisableIn, TotpEnableIn

__all__ = ["operators_router", "router", "second_factor_passes"]

router = APIRouter(prefix="/api/v1/auth/totp", tags=["auth"])
operators_router = APIRouter(prefix="/api/v1/operators", tags=["settings"])


def _secrets(services: Services) -> TotpSecrets:
    return TotpSecrets(services.settings.secret_key.get_secret_value())


def _own_account(actor: OperatorActor, doing: str) -> OperatorActor:
    """Two-factor sign-in is the person's own: a session of theirs, never an API token."""
    return require_session(require_person(actor, doing), doing)


async def second_factor_passes(
    services: Services, operator_id: str, state: TotpState, code: str, ip: str
) -> bool:
    """Whether ``code`` is a current authentication code not used before, or an unused
    recovery code, of an operator with two-factor sign-in on; spends it if so."""
    if looks_like_totp_code(code):
        assert state.secret is not None
        secret = _secrets(services).open(operator_id, state.secret)
        step = None if secret is None else matching_step(secret, code, services.clock())
        if step is None:
            return False
        accepted: bool = await services.db.write(accept_totp_step, operator_id, step)
        return accepted
    code_hash = recovery_code_hash(code)
    if code_hash is None:
        return False
    used: bool = await services.db.write(use_recovery_code, operator_id, code_hash, ip=ip)
    return used


@router.post(
    "/setup",
    summary="Start setting up two-factor sign-in: a new secret, shown this once",
    **answers(TotpSetup, 401, 403, 409),
)
async def setup(services: ServicesDep, actor: AdminWriter) -> TotpSetup:
    _own_account(actor, "Set up two-factor authentication")
    secret = new_secret()
    sealed = _secrets(services).seal(actor.operator_id, secret)
    await services.db.write(begin_totp_setup, actor, sealed)
    return {"secret": secret, "otpauth_uri": provisioning_uri(secret, actor.email)}


@router.post(
    "/enable",
    summary="Turn two-factor sign-in on with a code of the secret just set up",
    **answers(RecoveryCodes, 401, 403, 409, 422),
)
async def enable(
    services: ServicesDep, request: Request, actor: AdminWriter, body: TotpEnableIn
) -> RecoveryCodes:
    _own_account(actor, "Turn on two-factor authentication")
    state = await services.db.read(lambda conn: totp_state(conn, actor.operator_id))
    if state.enabled:
        raise Conflict("Two-factor authentication is already on.")
    if state.pending_secret is None:
        raise Conflict("Set up two-factor authentication first: there is no secret to confirm.")
    secret = _secrets(services).open(actor.operator_id, state.pending_secret)
    step = None if secret is None else matching_step(secret, body.code, services.clock())
    if step is None:
        raise ValidationFailed(
            "The code is not the one your app shows now; check the app and try again.",
            {"field": "code"},
        )
    codes = new_recovery_codes()
    hashes = [h for h in map(recovery_code_hash, codes) if h is not None]
    ip = request_ip(request)
    await services.db.write(enable_totp, actor, state.pending_secret, step, hashes, ip=ip)
    return {"recovery_codes": codes}


@router.post(
    "/disable",
    status_code=204,
    summary="Turn two-factor sign-in off; needs your password (409 while an owner requires it)",
    **answers(None, 401, 403, 409, 422, status=204),
)
async def disable(
    services: ServicesDep, request: Request, actor: AdminWriter, body: TotpDisableIn
) -> Response:
    # Before the password check, so an API token is no way to guess its operator's password.
    _own_account(actor, "Turn off two-factor authentication")
    current = await services.db.read(lambda conn: password_hash_of(conn, actor.operator_id))
    if not await asyncio.to_thread(verify_password, current, body.password):
        raise Forbidden("The password is wrong.")
    if (await services.db.read(security_policy))["require_totp"]:
        raise Conflict("An owner requires two-factor authentication for everyone: it stays on.")
    await services.db.write(disable_totp, actor, ip=request_ip(request))
    return Response(status_code=204)


@operators_router.delete(
    "/{operator_id}/totp",
    status_code=204,
    summary="Turn off another operator's two-factor sign-in (admins: agents; owners: admins too)",
    **answers(None, 401, 403, 404, 409, status=204),
)
async def reset_operator_totp(
    services: ServicesDep, request: Request, actor: AdminWriter, operator_id: str
) -> Response:
    # From a person's session only: an API token is no way to strip a second factor.
    require_session(actor, "Reset another operator's two-factor authentication")
    await services.db.write(admin_reset_totp, actor, operator_id, ip=request_ip(request))
    return Response(status_code=204)
