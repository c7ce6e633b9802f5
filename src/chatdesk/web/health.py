"""Service endpoints: liveness, readiness."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatdesk.errors import Forbidden
from chatdesk.queries.health import database_answers
from chatdesk.runtime import Services
from chatdesk.security.network import forwarded_by_untrusted_proxy, ip_allowed
from chatdesk.shape_types import CheckStatus, Health, Readiness, ReadinessCheck
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


# A failed write counts against readiness for this long after it (or until a write
# succeeds): long enough for a probe to see it, short enough that a node taken out of
# a balancer (so written to no more) comes back once the cheap checks pass again.
WRITE_FAILURE_SECONDS = 30.0
_ORDER: dict[CheckStatus, int] = {"ok": 0, "degraded": 1, "failing": 2}


@router.get(
    "/readyz",
    summary="Database, writer, disk, bus and rate limits: ok, degraded or failing",
    **answers(Readiness, also=503),
)
async def readyz(services: ServicesDep) -> Readiness | JSONResponse:
    checks = await readiness_checks(services)
    status = max((check["status"] for check in checks.values()), key=_ORDER.__getitem__)
    body: Readiness = {"status": status, "checks": checks}
    if status == "failing":
        return JSONResponse(body, status_code=503)
    return body


async def readiness_checks(services: Services) -> dict[str, ReadinessCheck]:
    """Each dependency's state, found without writing anything."""
    db, settings = services.db, services.settings
    checks: dict[str, ReadinessCheck] = {}
    try:
        async with asyncio.timeout(3):
            await db.read(database_answers)
    except Exception as exc:
        cause = getattr(exc, "cause", None) or "does not answer"
        checks["database"] = {"status": "failing", "detail": f"database {cause}"}
    else:
        checks["database"] = {"status": "ok"}
        db.outages.answered()
    checks["writer"] = _writer_check(services)
    problem = db.storage_problem(settings.disk_min_free_mb * 1024 * 1024)
    if db.file_path is not None:
        checks["disk"] = {"status": "failing", "detail": problem} if problem else {"status": "ok"}
    if settings.redis_url:
        if await services.hub.bus.ping():
            checks["bus"] = {"status": "ok"}
        else:
            detail = "Redis does not answer; events are polled from the database"
            checks["bus"] = {"status": "degraded", "detail": detail}
        if services.limiter.degraded:
            detail = "Redis does not answer; limits are counted per process"
            checks["rate_limits"] = {"status": "degraded", "detail": detail}
        else:
            checks["rate_limits"] = {"status": "ok"}
    return checks


def _writer_check(services: Services) -> ReadinessCheck:
    db = services.db
    if not db.writer_alive:
        return {"status": "failing", "detail": "the database writer is not running"}
    cause = db.outages.writes_failing(within=WRITE_FAILURE_SECONDS)
    if cause is not None:
        return {"status": "failing", "detail": f"writes fail: {cause.replace('_', ' ')}"}
    return {"status": "ok"}
