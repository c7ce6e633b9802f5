"""Webhooks API for admins and owners: the webhooks, their deliveries, resending one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from chatdesk.access import SETTINGS_ROLE, access_webhook, require_role
from chatdesk.actions.webhooks import (
    create_webhook,
    delete_webhook,
    resend_delivery,
    update_webhook,
)
from chatdesk.queries.webhooks import list_deliveries, list_webhooks
from chatdesk.shape_types import (
    NewWebhook,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryList,
    WebhookList,
)
from chatdesk.web.answers import answers
from chatdesk.web.deps import ADMIN_LIMITS, CurrentOperator, ServicesDep, request_ip
from chatdesk.web.schemas import WebhookIn, WebhookPatch

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["webhooks"], dependencies=ADMIN_LIMITS)


@router.get("/webhooks", summary="Webhooks (admin+)", **answers(WebhookList, 401, 403))
async def get_webhooks(services: ServicesDep, actor: CurrentOperator) -> WebhookList:
    require_role(actor, SETTINGS_ROLE)
    return {"webhooks": await services.db.read(list_webhooks)}


@router.post(
    "/webhooks",
    status_code=201,
    summary="Create a webhook; its signing secret is shown once (admin+)",
    **answers(NewWebhook, 401, 403, 422, status=201),
)
async def post_webhook(
    services: ServicesDep, request: Request, actor: CurrentOperator, body: WebhookIn
) -> NewWebhook:
    created = await services.db.write(
        create_webhook,
        actor,
        url=body.url,
        events=list(body.events),
        site_id=body.site_id,
        active=body.active,
        include_private=body.include_private,
        allow_private=services.settings.webhook_allow_private,
        ip=request_ip(request),
    )
    services.worker.webhooks_changed()
    return created


@router.patch(
    "/webhooks/{webhook_id}",
    summary="Change, pause or resume a webhook (admin+)",
    **answers(Webhook, 401, 403, 404, 422),
)
async def patch_webhook(
    services: ServicesDep,
    request: Request,
    actor: CurrentOperator,
    webhook_id: str,
    body: WebhookPatch,
) -> Webhook:
    fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    changed = await services.db.write(
        update_webhook,
        actor,
        webhook_id,
        fields,
        allow_private=services.settings.webhook_allow_private,
        ip=request_ip(request),
    )
    services.worker.webhooks_changed()
    return changed


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    summary="Delete a webhook and its deliveries (admin+)",
    **answers(None, 401, 403, 404, status=204),
)
async def remove_webhook(
    services: ServicesDep, request: Request, actor: CurrentOperator, webhook_id: str
) -> Response:
    await services.db.write(delete_webhook, actor, webhook_id, request_ip(request))
    services.worker.webhooks_changed()
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="A webhook's recent deliveries, newest first (admin+)",
    **answers(WebhookDeliveryList, 401, 403, 404, 422),
)
async def get_deliveries(
    services: ServicesDep,
    actor: CurrentOperator,
    webhook_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> WebhookDeliveryList:
    deliveries = await services.db.read(
        lambda conn: list_deliveries(conn, access_webhook(conn, actor, webhook_id).id, limit)
    )
    return {"deliveries": deliveries}


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
    status_code=202,
    summary="Send a delivery again now, with the same webhook-id (admin+)",
    **answers(WebhookDelivery, 401, 403, 404, status=202),
)
async def post_resend(
    services: ServicesDep,
    request: Request,
    actor: CurrentOperator,
    webhook_id: str,
    delivery_id: str,
) -> WebhookDelivery:
    delivery = await services.db.write(
        resend_delivery, actor, webhook_id, delivery_id, request_ip(request)
    )
    services.worker.wake()
    return delivery
