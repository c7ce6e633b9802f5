"""The Sessions page (ADR 0030): an operator's signed-in devices, signing one out or all
the others; admins see and end any operator's (an owner's: owners only).

From a person's signed-in session only, never an API token: like two-factor sign-in,
sessions are the person's own business (and an admin's, for ending a colleague's).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from chatdesk.access import require_person, require_session
from chatdesk.actions.sessions import (
    access_sessions_of,
    end_operator_session,
    end_operator_sessions,
    end_other_sessions,
    end_own_session,
)
from chatdesk.queries.sessions import live_sessions
from chatdesk.runtime import Services
from chatdesk.security.principals import OperatorActor, Principal
from chatdesk.shape_types import SignedInDevice, SignedInDeviceList
from chatdesk.web.answers import answers
from chatdesk.web.deps import AdminWriter, CurrentOperator, ServicesDep, request_ip

__all__ = ["operators_router", "router"]

router = APIRouter(prefix="/api/v1/auth/sessions", tags=["auth"])
operators_router = APIRouter(prefix="/api/v1/operators", tags=["settings"])


def _person(actor: OperatorActor, doing: str) -> OperatorActor:
    return require_session(require_person(actor, doing), doing)


async def _sessions(
    services: Services, actor: OperatorActor, operator_id: str
) -> list[SignedInDevice]:
    now = services.clock()
    idle = timedelta(minutes=services.settings.session_idle_minutes)

    def read(conn: Any) -> list[SignedInDevice]:
        return live_sessions(
            conn,
            operator_id,
            now=now,
            idle=idle,
            current_session_id=actor.session_id,
        )

    return await services.db.read(read)


@router.get(
    "",
    summary="Your signed-in devices, this one marked current",
    **answers(SignedInDeviceList, 401, 403),
)
async def list_own(services: ServicesDep, actor: CurrentOperator) -> SignedInDeviceList:
    _person(actor, "List your sessions")
    return {"sessions": await _sessions(services, actor, actor.operator_id)}


@router.delete(
    "/{session_id}",
    status_code=204,
    summary="Sign one of your devices out (this one too: that is signing out)",
    **answers(None, 401, 403, 404, status=204),
)
async def end_own(
    services: ServicesDep, request: Request, actor: AdminWriter, session_id: str
) -> Response:
    _person(actor, "Sign your devices out")
    await services.db.write(end_own_session, actor, session_id, ip=request_ip(request))
    services.hub.disconnect(actor.account)  # streams reconnect; the ended one is refused
    return Response(status_code=204)


@router.delete(
    "",
    status_code=204,
    summary="Sign out everywhere else: every device of yours but this one",
    **answers(None, 401, 403, status=204),
)
async def end_others(services: ServicesDep, request: Request, actor: AdminWriter) -> Response:
    _person(actor, "Sign your devices out")
    if await services.db.write(end_other_sessions, actor, ip=request_ip(request)):
        services.hub.disconnect(actor.account)
    return Response(status_code=204)


@operators_router.get(
    "/{operator_id}/sessions",
    summary="An operator's signed-in devices (admins; an owner's: owners)",
    **answers(SignedInDeviceList, 401, 403, 404),
)
async def list_operator(
    services: ServicesDep, actor: CurrentOperator, operator_id: str
) -> SignedInDeviceList:
    _person(actor, "List an operator's sessions")
    await services.db.read(lambda conn: access_sessions_of(conn, actor, operator_id))
    return {"sessions": await _sessions(services, actor, operator_id)}


@operators_router.delete(
    "/{operator_id}/sessions/{session_id}",
    status_code=204,
    summary="Sign one device of an operator out (admins; an owner's: owners)",
    **answers(None, 401, 403, 404, status=204),
)
async def end_operator_one(
    services: ServicesDep, request: Request, actor: AdminWriter, operator_id: str, session_id: str
) -> Response:
    _person(actor, "Sign an operator's devices out")
    ip = request_ip(request)
    await services.db.write(end_operator_session, actor, operator_id, session_id, ip=ip)
    services.hub.disconnect(Principal("operator", operator_id))
    return Response(status_code=204)


@operators_router.delete(
    "/{operator_id}/sessions",
    status_code=204,
    summary="Sign every device of an operator out (admins; an owner's: owners; "
    "one's own: all but this one)",
    **answers(None, 401, 403, 404, status=204),
)
async def end_operator_all(
    services: ServicesDep, request: Request, actor: AdminWriter, operator_id: str
) -> Response:
    _person(actor, "Sign an operator's devices out")
    ip = request_ip(request)
    if await services.db.write(end_operator_sessions, actor, operator_id, ip=ip):
        services.hub.disconnect(Principal("operator", operator_id))
    return Response(status_code=204)
