"""Settings API for admins and owners: sites, operators, canned responses, API tokens, audit."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from chatdesk.access import AUDIT_LOG_ROLE, SETTINGS_ROLE, access_site, require_role
from chatdesk.actions.api_tokens import create_api_token, revoke_api_token
from chatdesk.actions.canned_responses import (
    create_canned_response,
    delete_canned_response,
    update_canned_response,
)
from chatdesk.actions.operators import create_operator, reset_password, update_operator
from chatdesk.actions.password_links import invite_operator
from chatdesk.actions.sites import create_site, delete_site, update_site
from chatdesk.queries.api_tokens import list_api_tokens
from chatdesk.queries.audit_log import AuditFilter, audit_entries
from chatdesk.queries.canned_responses import list_canned_responses
from chatdesk.queries.operators import list_operators
from chatdesk.queries.sites import list_sites
from chatdesk.security.passwords import hash_password, temporary_password
from chatdesk.security.principals import Principal
from chatdesk.shape_types import (
    ApiTokenList,
    AuditLog,
    CannedResponse,
    CannedResponseList,
    NewApiToken,
    Operator,
    OperatorList,
    Site,
    SiteList,
    TemporaryPassword,
)
from chatdesk.shapes import site_shape
from chatdesk.web.answers import answers
from chatdesk.web.deps import ADMIN_LIMITS, CurrentOperator, ServicesDep, request_ip
from chatdesk.web.routing_sweep import sweep_for
from chatdesk.web.schemas import (
    ApiTokenIn,
    CannedResponseIn,
    CannedResponsePatch,
    OperatorIn,
    OperatorPatch,
    SiteIn,
    SitePatch,
    TemporaryPasswordIn,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["settings"], dependencies=ADMIN_LIMITS)


# -- sites ---------------------------------------------------------------------------


@router.get("/sites", summary="Sites (admin+)", **answers(SiteList, 401, 403))
async def get_sites(services: ServicesDep, actor: CurrentOperator) -> SiteList:
    require_role(actor, SETTINGS_ROLE)
    return {"sites": await services.db.read(list_sites)}


@router.post(
    "/sites",
    status_code=201,
    summary="Create a site (admin+)",
    **answers(Site, 401, 403, 422, status=201),
)
async def post_site(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: SiteIn
) -> Site:
    fields = body.columns()
    fields.setdefault("allowed_origins", [])
    ip = request_ip(request)
    return await services.db.write(create_site, actor, fields, ip)


@router.get("/sites/{site_id}", summary="One site (admin+)", **answers(Site, 401, 403, 404))
async def get_site(services: ServicesDep, actor: CurrentOperator, site_id: str) -> Site:
    row = await services.db.read(lambda conn: access_site(conn, actor, site_id, manage=True))
    return site_shape(row)


@router.patch(
    "/sites/{site_id}",
    summary="Change a site's widget settings (admin+)",
    **answers(Site, 401, 403, 404, 422),
)
async def patch_site(
    services: ServicesDep, request: Request, actor: CurrentOperator, site_id: str, body: SitePatch
) -> Site:
    fields = body.columns()
    ip = request_ip(request)
    return await services.db.write(
        update_site,
        actor,
        site_id,
        fields,
        rotate_identity_secret=body.rotate_identity_secret,
        ip=ip,
    )


@router.delete(
    "/sites/{site_id}",
    status_code=204,
    summary="Delete a site with its visitors and conversations (admin+; audit-logged)",
    **answers(None, 401, 403, 404, status=204),
)
async def delete_site_route(
    services: ServicesDep, request: Request, actor: CurrentOperator, site_id: str
) -> Response:
    ip = request_ip(request)
    await services.db.write(delete_site, actor, site_id, ip=ip)
    # Every process forgets the site's visitor tokens (the whole cache: rare).
    await services.end_visitor_sessions(None)
    return Response(status_code=204)


# -- operators -----------------------------------------------------------------------


@router.get("/operators", summary="Operators (admin+)", **answers(OperatorList, 401, 403))
async def get_operators(services: ServicesDep, actor: CurrentOperator) -> OperatorList:
    require_role(actor, SETTINGS_ROLE)
    operators = await services.db.read(list_operators)
    services.operator_presence.stamp(operators)
    return {"operators": operators}


@router.post(
    "/operators",
    status_code=201,
    summary="Create an operator (admin+); without a password, invite them by email",
    description=(
        "Without `password`, the operator cannot sign in until they choose one with the "
        "single-use link of the invitation email (valid `CHATDESK_INVITATION_DAYS`); the "
        "answer's `invitation` is `sent`, or `not_sent` when chatdesk sends no email (give "
        "them a temporary password with `POST /operators/{id}/password` instead)."
    ),
    **answers(Operator, 401, 403, 409, 422, status=201),
)
async def post_operator(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: OperatorIn
) -> Operator:
    ip = request_ip(request)
    fields = {
        "email": body.email,
        "name": body.name,
        "role": body.role,
        "site_ids": body.site_ids,
        "max_open": body.max_open,
    }
    if body.password is None:
        settings = services.settings
        return await services.db.write(
            invite_operator,
            actor,
            fields,
            hours=settings.invitation_days * 24,
            secret=settings.secret_key.get_secret_value(),
            email_on=settings.email_enabled,
            ip=ip,
        )
    password_hash = await asyncio.to_thread(hash_password, body.password)
    return await services.db.write(
        create_operator, actor, password_hash=password_hash, ip=ip, **fields
    )


@router.patch(
    "/operators/{operator_id}",
    summary="Change an operator (admin+)",
    **answers(Operator, 401, 403, 404, 409, 422),
)
async def patch_operator(
    services: ServicesDep,
    request: Request,
    actor: CurrentOperator,
    operator_id: str,
    body: OperatorPatch,
) -> Operator:
    fields = body.model_dump(exclude_unset=True, exclude={"password"})
    # null is "no change", except for max_open, where it means no limit.
    fields = {k: v for k, v in fields.items() if v is not None or k == "max_open"}
    if body.password is not None:
        fields["password_hash"] = await asyncio.to_thread(hash_password, body.password)
    ip = request_ip(request)
    result = await services.db.write(update_operator, actor, operator_id, fields, ip=ip)
    services.hub.disconnect(Principal("operator", operator_id))
    services.operator_presence.stamp([result])
    if "max_open" in fields:  # room for more, maybe: their sites' waiting conversations
        sweep_for(services, operator_id)
    return result


@router.post(
    "/operators/{operator_id}/password",
    summary="Give an operator a temporary password, shown once (admin+)",
    **answers(TemporaryPassword, 401, 403, 404, 409, 422),
    description=(
        "Sets the password given, or generates one when absent, and returns it once. "
        "The operator's sessions end; at their next sign-in they must choose their own "
        "password before anything else (403 with details.reason password_change_required)."
    ),
)
async def post_operator_password(
    services: ServicesDep,
    request: Request,
    actor: CurrentOperator,
    operator_id: str,
    body: TemporaryPasswordIn,
) -> TemporaryPassword:
    password = body.password or temporary_password()
    password_hash = await asyncio.to_thread(hash_password, password)
    ip = request_ip(request)
    await services.db.write(reset_password, actor, operator_id, password_hash, ip=ip)
    services.hub.disconnect(Principal("operator", operator_id))
    return {"temporary_password": password}


# -- canned responses ----------------------------------------------------------------


@router.get(
    "/canned-responses",
    summary="Canned responses: the global ones and those of your sites (any operator)",
    **answers(CannedResponseList, 401),
)
async def get_canned(services: ServicesDep, actor: CurrentOperator) -> CannedResponseList:
    found = await services.db.read(lambda conn: list_canned_responses(conn, actor))
    return {"canned_responses": found}


@router.post(
    "/canned-responses",
    status_code=201,
    summary="Create a canned response for one site or every site (admin+)",
    **answers(CannedResponse, 401, 403, 404, 409, 422, status=201),
)
async def post_canned(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: CannedResponseIn
) -> CannedResponse:
    ip = request_ip(request)
    return await services.db.write(
        create_canned_response, actor, body.shortcut, body.body, ip, site_id=body.site_id
    )


@router.patch(
    "/canned-responses/{canned_id}",
    summary="Change a canned response (admin+)",
    **answers(CannedResponse, 401, 403, 404, 409, 422),
)
async def patch_canned(
    services: ServicesDep,
    request: Request,
    actor: CurrentOperator,
    canned_id: str,
    body: CannedResponsePatch,
) -> CannedResponse:
    ip = request_ip(request)
    return await services.db.write(update_canned_response, actor, canned_id, body.changes(), ip)


@router.delete(
    "/canned-responses/{canned_id}",
    status_code=204,
    summary="Delete a canned response (admin+)",
    **answers(None, 401, 403, 404, status=204),
)
async def delete_canned(
    services: ServicesDep, request: Request, actor: CurrentOperator, canned_id: str
) -> Response:
    ip = request_ip(request)
    await services.db.write(delete_canned_response, actor, canned_id, ip)
    return Response(status_code=204)


# -- API tokens ----------------------------------------------------------------------


@router.get(
    "/api-tokens",
    summary="API tokens (admin+); secrets are never shown again",
    **answers(ApiTokenList, 401, 403),
)
async def get_api_tokens(services: ServicesDep, actor: CurrentOperator) -> ApiTokenList:
    require_role(actor, SETTINGS_ROLE)
    return {"api_tokens": await services.db.read(list_api_tokens)}


@router.post(
    "/api-tokens",
    status_code=201,
    summary="Create an API token, shown once (admin+); a bot token belongs to one site",
    **answers(NewApiToken, 401, 403, 404, 422, status=201),
)
async def post_api_token(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: ApiTokenIn
) -> NewApiToken:
    ip = request_ip(request)
    token, shape = await services.db.write(
        create_api_token, actor, body.name, body.role, ip, site_id=body.site_id
    )
    return {**shape, "token": token}


@router.delete(
    "/api-tokens/{token_id}",
    status_code=204,
    summary="Revoke an API token (admin+)",
    **answers(None, 401, 403, 404, status=204),
)
async def delete_api_token(
    services: ServicesDep, request: Request, actor: CurrentOperator, token_id: str
) -> Response:
    ip = request_ip(request)
    owner_id = await services.db.write(revoke_api_token, actor, token_id, ip)
    # Its open streams (in every process) check their credential now, and end.
    services.hub.disconnect(Principal("operator", owner_id))
    return Response(status_code=204)


# -- audit log -----------------------------------------------------------------------


@router.get(
    "/audit-log", summary="Audit log, newest first (owner)", **answers(AuditLog, 401, 403, 422)
)
async def get_audit_log(
    services: ServicesDep,
    actor: CurrentOperator,
    action: Annotated[str | None, Query(max_length=60, pattern=r"^[a-z_.]+$")] = None,
    operator_id: Annotated[str | None, Query(max_length=32)] = None,
    before: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditLog:
    require_role(actor, AUDIT_LOG_ROLE)
    flt = AuditFilter(action=action, operator_id=operator_id, before=before, limit=limit)
    return {"entries": await services.db.read(lambda conn: audit_entries(conn, flt))}
