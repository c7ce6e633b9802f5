"""Emails API for admins and owners: the outbox's email jobs by state, sending a failed one
again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from chatdesk.access import SETTINGS_ROLE, require_role
from chatdesk.actions.email import resend_email
from chatdesk.queries.email_jobs import list_email_jobs
from chatdesk.shape_types import DeliveryStatus, EmailJob, EmailJobList
from chatdesk.web.answers import answers
from chatdesk.web.deps import ADMIN_LIMITS, CurrentOperator, ServicesDep, request_ip

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["emails"], dependencies=ADMIN_LIMITS)


@router.get(
    "/emails",
    summary="Email jobs in one state (failed by default), newest first (admin+)",
    **answers(EmailJobList, 401, 403, 422),
)
async def get_emails(
    services: ServicesDep,
    actor: CurrentOperator,
    status: DeliveryStatus = "failed",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EmailJobList:
    require_role(actor, SETTINGS_ROLE)
    emails = await services.db.read(lambda conn: list_email_jobs(conn, status, limit))
    return {"emails": emails, "email_enabled": services.settings.email_enabled}


@router.post(
    "/emails/{email_id}/resend",
    status_code=202,
    summary="Send a failed email again now, its attempts counted afresh (admin+)",
    **answers(EmailJob, 401, 403, 404, 409, status=202),
)
async def post_resend_email(
    services: ServicesDep, request: Request, actor: CurrentOperator, email_id: str
) -> EmailJob:
    resent = await services.db.write(
        resend_email,
        actor,
        email_id,
        email_enabled=services.settings.email_enabled,
        ip=request_ip(request),
    )
    services.worker.wake()
    return resent
