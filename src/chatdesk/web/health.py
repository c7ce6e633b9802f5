"""Service endpoints: liveness, readiness."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatdesk.errors import Forbidden
from chatdesk.queries.health import database_answers
from chatdesk.security.network import forwarded_by_untrusted_proxy, ip_allowed
from chatdesk.shape_types import Health
from chatdesk.web.answers import answers
from chatdesk.web.deps import ServicesDep, request_ip

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="The process is alive", **answers(Health))
async def healthz() -> Health:
    return {"status": "ok"}


@router.get(
    "/metrics",
    summary="Prometheus metrics (bearer token or allow-listed address)",
    response_class=PlainTextResponse,  # for the schema: the handler answers Prometheus text
)
async def metrics(services: ServicesDep, request: Request) -> Response:
    settings = services.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if token:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            raise Forbidden("Metrics need the metrics bearer token.")
    else:
        ip = request_ip(request)
        if forwarded_by_untrusted_proxy(request, services.trusted_proxies):
            # The peer is a proxy: its address says nothing about the client.
            raise Forbidden(
                "Metrics are not served through an untrusted proxy; set "
                "CHATDESK_TRUSTED_PROXIES or CHATDESK_METRICS_TOKEN."
            )
        if not ip_allowed(ip, tuple(settings.metrics_allow)):
            raise Forbidden("Metrics are not served to this address.")
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/readyz",
    summary="Database, its writer and the bus are reachable",
    **answers(Health, 503),
)
async def readyz(services: ServicesDep) -> Health | JSONResponse:
    failing = []
    try:
        await services.db.read(database_answers)
    except Exception:
        failing.append("database")
    if not services.db.writer_alive:
        failing.append("writer")
    if not await services.hub.bus.ping():
        failing.append("bus")
    if failing:
        return JSONResponse(
            {
                "error": {
                    "code": "unavailable",
                    "message": f"Not ready: {', '.join(failing)} unreachable.",
                    "details": {"failing": failing},
                }
            },
            status_code=503,
        )
    return {"status": "ok"}
