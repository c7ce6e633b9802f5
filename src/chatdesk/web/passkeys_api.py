"""Passkeys (WebAuthn, ADR 0030): register several, name, rename and remove them under
Account; sign in with one instead of a password and code.

Every ceremony starts with ``…/options``, whose challenge is kept (hashed) for five
minutes and used at most once, whatever the outcome. The RP ID and the one accepted
origin come from ``CHATDESK_PUBLIC_URL`` (:func:`chatdesk.web.deps.own_origin`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from chatdesk.access import require_person, require_session
from chatdesk.actions.auth import record_failed_login
from chatdesk.actions.passkeys import (
    add_passkey,
    issue_challenge,
    passkey_used,
    remove_passkey,
    rename_passkey,
    take_challenge,
)
from chatdesk.errors import BadRequest, Unauthorized
from chatdesk.queries.operators import operator_profile
from chatdesk.queries.passkeys import credential_ids_of, own_passkeys, passkey_by_credential
from chatdesk.runtime import Services
from chatdesk.security.passkeys import (
    RelyingParty,
    authentication_options,
    challenge_hash,
    challenge_of,
    credential_id_of,
    registration_options,
    verify_login,
    verify_registration,
)
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import Passkey, PasskeyList, PasskeyOptions, SignedIn
from chatdesk.web.answers import answers
from chatdesk.web.deps import (
    AdminWriter,
    CurrentOperator,
    ServicesDep,
    check_same_origin,
    limit_ip,
    open_session,
    own_origin,
    request_ip,
)
from chatdesk.web.schemas import PasskeyLoginIn, PasskeyPatch, PasskeyRegisterIn

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth/passkeys", tags=["auth"])

_REFUSED = "That passkey did not sign you in. Try again, or use your password."


def _rp(request: Request) -> RelyingParty:
    return RelyingParty.of(own_origin(request))


def _own_account(actor: OperatorActor, doing: str) -> OperatorActor:
    return require_session(require_person(actor, doing), doing)


async def _take(
    services: Services, credential: dict[str, Any], purpose: str, operator_id: str | None
) -> bytes | None:
    """The challenge the answer claims, if it is an unused one of this ceremony."""
    challenge = challenge_of(credential)
    if challenge is None:
        return None
    digest = challenge_hash(challenge)
    ok = await services.db.write(take_challenge, digest, purpose, operator_id)
    return challenge if ok else None


@router.get("", summary="Your passkeys", **answers(PasskeyList, 401, 403))
async def list_passkeys(services: ServicesDep, actor: CurrentOperator) -> PasskeyList:
    _own_account(actor, "List your passkeys")
    return {"passkeys": await services.db.read(lambda c: own_passkeys(c, actor.operator_id))}


@router.post(
    "/register/options",
    summary="Start adding a passkey: options for navigator.credentials.create()",
    **answers(PasskeyOptions, 401, 403),
)
async def register_options(
    services: ServicesDep, request: Request, actor: AdminWriter
) -> PasskeyOptions:
    _own_account(actor, "Add a passkey")
    existing = await services.db.read(lambda c: credential_ids_of(c, actor.operator_id))
    options, challenge = registration_options(
        _rp(request), actor.operator_id, actor.email, actor.name, existing
    )
    await services.db.write(
        issue_challenge, challenge_hash(challenge), "register", actor.operator_id
    )
    return {"public_key": options}


@router.post(
    "/register",
    status_code=201,
    summary="Add a passkey: the browser's answer to the options, and a name for it",
    **answers(Passkey, 400, 401, 403, 409, 422, status=201),
)
async def register(
    services: ServicesDep, request: Request, actor: AdminWriter, body: PasskeyRegisterIn
) -> Passkey:
    _own_account(actor, "Add a passkey")
    challenge = await _take(services, body.credential, "register", actor.operator_id)
    passkey = (
        None if challenge is None else verify_registration(_rp(request), body.credential, challenge)
    )
    if passkey is None:
        raise BadRequest(
            "The passkey could not be added: start again (the request expired, was used "
            "already, or came from another address)."
        )
    ip = request_ip(request)
    added: Passkey = await services.db.write(
        add_passkey, actor, passkey, body.name.strip() or "Passkey", ip=ip
    )
    return added


@router.patch(
    "/{passkey_id}", summary="Rename a passkey of yours", **answers(Passkey, 401, 403, 404, 422)
)
async def patch_passkey(
    services: ServicesDep, actor: AdminWriter, passkey_id: str, body: PasskeyPatch
) -> Passkey:
    _own_account(actor, "Rename a passkey")
    renamed: Passkey = await services.db.write(
        rename_passkey, actor, passkey_id, body.name.strip() or "Passkey"
    )
    return renamed


@router.delete(
    "/{passkey_id}",
    status_code=204,
    summary="Remove a passkey of yours",
    **answers(None, 401, 403, 404, status=204),
)
async def delete_passkey(
    services: ServicesDep, request: Request, actor: AdminWriter, passkey_id: str
) -> Response:
    _own_account(actor, "Remove a passkey")
    await services.db.write(remove_passkey, actor, passkey_id, ip=request_ip(request))
    return Response(status_code=204)


@router.post(
    "/login/options",
    summary="Start signing in with a passkey: options for navigator.credentials.get()",
    dependencies=[limit_ip("login_ip")],
    **answers(PasskeyOptions, 403, 429),
)
async def login_options(services: ServicesDep, request: Request) -> PasskeyOptions:
    check_same_origin(request)
    options, challenge = authentication_options(_rp(request))
    await services.db.write(issue_challenge, challenge_hash(challenge), "login", None)
    return {"public_key": options}


@router.post(
    "/login",
    summary="Sign in with a passkey (instead of password and code): 401 when refused",
    dependencies=[limit_ip("login_ip")],
    **answers(SignedIn, 401, 403, 422, 429),
)
async def login(
    services: ServicesDep, request: Request, response: Response, body: PasskeyLoginIn
) -> SignedIn:
    check_same_origin(request)
    ip = request_ip(request)
    challenge = await _take(services, body.credential, "login", None)
    credential_id = credential_id_of(body.credential)
    key = None
    if challenge is not None and credential_id is not None:
        key = await services.db.read(lambda c: passkey_by_credential(c, credential_id))
    count = None
    if key is not None and challenge is not None and key.active:
        count = verify_login(
            _rp(request), body.credential, challenge, key.public_key, key.sign_count
        )
    if (
        key is None
        or count is None
        or not await services.db.write(passkey_used, key.id, key.sign_count, count)
    ):
        await services.db.write(record_failed_login, "", ip, reason="passkey")
        raise Unauthorized(_REFUSED)
    csrf_token = await open_session(
        services, request, response, key.operator_id, ip=ip, method="passkey"
    )
    operator = await services.db.read(lambda c: operator_profile(c, key.operator_id))
    services.operator_presence.stamp([operator])
    return {"operator": operator, "csrf_token": csrf_token}
