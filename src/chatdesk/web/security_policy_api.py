"""Sign-in rules for everyone (ADR 0030): owners require two-factor sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from chatdesk.access import SETTINGS_ROLE, require_role, require_session
from chatdesk.actions.org_settings import change_security_policy
from chatdesk.queries.org_settings import security_policy
from chatdesk.shape_types import SecurityPolicy
from chatdesk.web.answers import answers
from chatdesk.web.deps import AdminWriter, CurrentOperator, ServicesDep, request_ip

__all__ = ["SecurityPolicyPatch", "router"]

router = APIRouter(prefix="/api/v1/security-policy", tags=["settings"])


class SecurityPolicyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    require_totp: bool | None = None


@router.get(
    "", summary="The sign-in rules for everyone (admin+)", **answers(SecurityPolicy, 401, 403)
)
async def get_policy(services: ServicesDep, actor: CurrentOperator) -> SecurityPolicy:
    require_role(actor, SETTINGS_ROLE)
    return await services.db.read(security_policy)


@router.patch(
    "",
    summary="Change the sign-in rules for everyone (owners, from a signed-in session)",
    **answers(SecurityPolicy, 401, 403, 409, 422),
)
async def patch_policy(
    services: ServicesDep, request: Request, actor: AdminWriter, body: SecurityPolicyPatch
) -> SecurityPolicy:
    # A person's session only: a leaked token is no way to loosen everyone's sign-in.
    require_session(actor, "Change the sign-in rules")
    changes = body.model_dump(exclude_none=True)
    await services.db.write(change_security_policy, actor, changes, ip=request_ip(request))
    return await services.db.read(security_policy)
