"""Service endpoints: liveness, readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from chatdesk.web.deps import ServicesDep

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database and bus are reachable")
async def readyz(services: ServicesDep) -> Any:
    failing = []
    try:
        await services.db.read(lambda conn: conn.execute(text("SELECT 1")).scalar())
    except Exception:
        failing.append("database")
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
