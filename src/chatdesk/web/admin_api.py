"""Settings API for admins and owners: sites, operators, canned responses, API tokens, audit."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from chatdesk.access import access_site, require_role
from chatdesk.actions.api_tokens import create_api_token, revoke_api_token
from chatdesk.actions.canned_responses import create_canned_response, delete_canned_response
from chatdesk.actions.operators import create_operator, operator_site_ids, update_operator
from chatdesk.actions.sites import create_site, update_site
from chatdesk.clock import iso
from chatdesk.db.tables import api_tokens, audit_log, canned_responses, operators, sites
from chatdesk.security.passwords import hash_password
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
)
from chatdesk.shapes import api_token_shape, canned_response_shape, operator_shape, site_shape
from chatdesk.web.answers import answers
from chatdesk.web.deps import ADMIN_LIMITS, CurrentOperator, ServicesDep, request_ip
from chatdesk.web.schemas import (
    ApiTokenIn,
    CannedResponseIn,
    OperatorIn,
    OperatorPatch,
    SiteIn,
    SitePatch,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["settings"], dependencies=ADMIN_LIMITS)


# -- sites ---------------------------------------------------------------------------


@router.get("/sites", summary="Sites (admin+)", **answers(SiteList, 401, 403))
async def get_sites(services: ServicesDep, actor: CurrentOperator) -> SiteList:
    require_role(actor, "admin")
    rows = await services.db.read(
        lambda conn: conn.execute(select(sites).order_by(sites.c.created_at)).all()
    )
    return {"sites": [site_shape(row) for row in rows]}


@router.post(
    "/sites",
    status_code=201,
    summary="Create a site (admin+)",
    **answers(Site, 401, 403, 422, status=201),
)
async def post_site(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: SiteIn
) -> Site:
    require_role(actor, "admin")
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


# -- operators -----------------------------------------------------------------------


@router.get("/operators", summary="Operators (admin+)", **answers(OperatorList, 401, 403))
async def get_operators(services: ServicesDep, actor: CurrentOperator) -> OperatorList:
    require_role(actor, "admin")

    def read(conn: Any) -> list[Operator]:
        rows = conn.execute(select(operators).order_by(operators.c.created_at)).all()
        return [operator_shape(row, operator_site_ids(conn, row.id)) for row in rows]

    return {"operators": await services.db.read(read)}


@router.post(
    "/operators",
    status_code=201,
    summary="Create an operator (admin+)",
    **answers(Operator, 401, 403, 409, 422, status=201),
)
async def post_operator(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: OperatorIn
) -> Operator:
    require_role(actor, "admin")
    password_hash = await asyncio.to_thread(hash_password, body.password)
    ip = request_ip(request)
    return await services.db.write(
        create_operator,
        actor,
        email=body.email,
        name=body.name,
        role=body.role,
        password_hash=password_hash,
        site_ids=body.site_ids,
        ip=ip,
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
    require_role(actor, "admin")
    fields = body.model_dump(exclude_unset=True, exclude={"password"})
    fields = {k: v for k, v in fields.items() if v is not None}
    if body.password is not None:
        fields["password_hash"] = await asyncio.to_thread(hash_password, body.password)
    ip = request_ip(request)
    result = await services.db.write(update_operator, actor, operator_id, fields, ip=ip)
    services.hub.disconnect(f"o:{operator_id}")
    return result


# -- canned responses ----------------------------------------------------------------


@router.get(
    "/canned-responses",
    summary="Canned responses (any operator)",
    **answers(CannedResponseList, 401),
)
async def get_canned(services: ServicesDep, actor: CurrentOperator) -> CannedResponseList:
    rows = await services.db.read(
        lambda conn: conn.execute(
            select(canned_responses).order_by(canned_responses.c.shortcut)
        ).all()
    )
    return {"canned_responses": [canned_response_shape(row) for row in rows]}


@router.post(
    "/canned-responses",
    status_code=201,
    summary="Create a canned response (admin+)",
    **answers(CannedResponse, 401, 403, 409, 422, status=201),
)
async def post_canned(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: CannedResponseIn
) -> CannedResponse:
    ip = request_ip(request)
    return await services.db.write(create_canned_response, actor, body.shortcut, body.body, ip)


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
    require_role(actor, "admin")
    rows = await services.db.read(
        lambda conn: conn.execute(
            select(api_tokens)
            .where(api_tokens.c.revoked_at.is_(None))
            .order_by(api_tokens.c.created_at)
        ).all()
    )
    return {"api_tokens": [api_token_shape(row) for row in rows]}


@router.post(
    "/api-tokens",
    status_code=201,
    summary="Create an API token, shown once (admin+)",
    **answers(NewApiToken, 401, 403, 422, status=201),
)
async def post_api_token(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: ApiTokenIn
) -> NewApiToken:
    ip = request_ip(request)
    token, shape = await services.db.write(create_api_token, actor, body.name, body.role, ip)
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
    await services.db.write(revoke_api_token, actor, token_id, ip)
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
    require_role(actor, "owner")
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action:
        query = query.where(audit_log.c.action == action)
    if operator_id:
        query = query.where(audit_log.c.operator_id == operator_id)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    rows = await services.db.read(lambda conn: conn.execute(query).all())
    return {
        "entries": [
            {
                "id": r.id,
                "operator_id": r.operator_id,
                "action": r.action,
                "target_type": r.target_type,
                "target_id": r.target_id,
                "ip": r.ip,
                "created_at": iso(r.created_at),
                "details": r.details,
            }
            for r in rows
        ]
    }
