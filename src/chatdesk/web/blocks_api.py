"""Blocks of abusive visitors (ADR 0018): any operator of the visitor's site may block;
admins and owners lift."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from chatdesk.access import require_role
from chatdesk.actions.blocks import block_visitor, lift_block
from chatdesk.queries.blocks import list_blocks
from chatdesk.shape_types import Block, BlockList
from chatdesk.web.answers import answers
from chatdesk.web.deps import ADMIN_LIMITS, CurrentOperator, ServicesDep, request_ip
from chatdesk.web.schemas import BlockIn

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["blocks"], dependencies=ADMIN_LIMITS)


@router.get(
    "/blocks",
    summary="Blocks of your sites' visitors, newest first: those in force unless asked",
    **answers(BlockList, 401, 403, 422),
)
async def get_blocks(
    services: ServicesDep,
    actor: CurrentOperator,
    visitor_id: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    include_ended: bool = False,
) -> BlockList:
    require_role(actor, "agent")
    now = services.clock()
    found = await services.db.read(
        lambda conn: list_blocks(
            conn, actor, now, visitor_id=visitor_id, active_only=not include_ended
        )
    )
    return {"blocks": found}


@router.post(
    "/blocks",
    status_code=201,
    summary="Block a visitor of one of your sites for a time (audit-logged)",
    **answers(Block, 401, 403, 404, 409, 422, status=201),
)
async def post_block(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: BlockIn
) -> Block:
    ip = request_ip(request)
    return await services.db.write(
        block_visitor,
        actor,
        body.visitor_id,
        duration=timedelta(seconds=body.duration_seconds),
        include_ip=body.include_ip,
        reason=body.reason,
        ip=ip,
    )


@router.delete(
    "/blocks/{block_id}",
    status_code=204,
    summary="Lift a block now (admin+; audit-logged)",
    **answers(None, 401, 403, 404, 409, status=204),
)
async def delete_block(
    services: ServicesDep, request: Request, actor: CurrentOperator, block_id: str
) -> Response:
    ip = request_ip(request)
    await services.db.write(lift_block, actor, block_id, ip=ip)
    return Response(status_code=204)
