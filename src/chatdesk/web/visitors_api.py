"""A visitor's data on their request: everything stored about them, and erasure (admin+)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from chatdesk.access import access_visitor, require_role
from chatdesk.actions.erasure import erase_visitor
from chatdesk.queries.visitor_data import visitor_export
from chatdesk.shape_types import VisitorExport
from chatdesk.web.answers import answers
from chatdesk.web.attachments_api import signed_links
from chatdesk.web.deps import ADMIN_LIMITS, CurrentOperator, ServicesDep, request_ip

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["settings"], dependencies=ADMIN_LIMITS)
VisitorId = Annotated[str, Path(max_length=64)]


@router.get(
    "/visitors/{visitor_id}/export",
    summary="Everything stored about a visitor, as JSON (admin+)",
    **answers(VisitorExport, 401, 403, 404, 422),
)
async def get_visitor_export(
    services: ServicesDep, actor: CurrentOperator, visitor_id: VisitorId
) -> Response:
    require_role(actor, "admin")
    links = signed_links(services)
    now = services.clock()

    def read(conn: Any) -> VisitorExport:
        return visitor_export(conn, access_visitor(conn, actor, visitor_id), links, now)

    exported = await services.db.read(read)
    return JSONResponse(
        exported,
        headers={"content-disposition": f'attachment; filename="visitor-{visitor_id}.json"'},
    )


@router.delete(
    "/visitors/{visitor_id}",
    status_code=204,
    summary="Erase a visitor with their conversations, messages, files and events (admin+)",
    **answers(None, 401, 403, 404, 422, status=204),
)
async def delete_visitor(
    services: ServicesDep, request: Request, actor: CurrentOperator, visitor_id: VisitorId
) -> Response:
    keys = await services.db.write(erase_visitor, actor, visitor_id, ip=request_ip(request))
    await services.end_visitor_sessions([visitor_id])  # at once, in every process
    if keys:
        # The rows are gone; a file that cannot be removed now is an orphan the next
        # ``chatdesk purge`` removes.
        with contextlib.suppress(Exception):
            await services.files.delete(keys)
    return Response(status_code=204)
