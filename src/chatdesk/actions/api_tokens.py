"""API tokens for integrations: hashed at rest, shown once, revocable."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from chatdesk.access import SETTINGS_ROLE, access_api_token, access_site, require_role
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import api_tokens
from chatdesk.errors import Forbidden, ValidationFailed
from chatdesk.ids import hash_token, new_id, new_token
from chatdesk.security.principals import BOT_ROLE, OperatorActor, role_at_least
from chatdesk.shape_types import ApiToken
from chatdesk.shapes import api_token_shape

__all__ = ["API_TOKEN_PREFIX", "create_api_token", "revoke_api_token"]

API_TOKEN_PREFIX = "cdk_"  # noqa: S105 (a prefix, not a secret)


def create_api_token(
    unit: Unit,
    actor: OperatorActor,
    name: str,
    role: str,
    ip: str | None = None,
    *,
    site_id: str | None = None,
) -> tuple[str, ApiToken]:
    """A new token acting with ``role`` (never above the creator's); returns (secret, shape).

    A ``bot`` token belongs to one site (``site_id``, required) and posts as a bot
    named ``name``; other roles take no site.
    """
    require_role(actor, SETTINGS_ROLE)
    if not role_at_least(actor.role, role):
        raise Forbidden("A token cannot have a higher role than its creator.")
    if role == BOT_ROLE:
        if site_id is None:
            raise ValidationFailed(
                "A bot token needs the site it answers on.", {"field": "site_id"}
            )
        access_site(unit.conn, actor, site_id)
    elif site_id is not None:
        raise ValidationFailed("Only a bot token belongs to a site.", {"field": "site_id"})
    token = new_token(API_TOKEN_PREFIX)
    token_id = new_id()
    unit.conn.execute(
        insert(api_tokens).values(
            id=token_id,
            name=name,
            token_hash=hash_token(token),
            prefix=token[:10],
            role=role,
            operator_id=actor.operator_id,
            created_at=unit.now,
            site_id=site_id,
        )
    )
    record(
        unit,
        "api_token.create",
        operator_id=actor.operator_id,
        target_type="api_token",
        target_id=token_id,
        ip=ip,
        details={"name": name, "role": role, "site_id": site_id},
    )
    row = unit.conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
    return token, api_token_shape(row)


def revoke_api_token(unit: Unit, actor: OperatorActor, token_id: str, ip: str | None = None) -> str:
    """Revoke the token; returns the id of the operator it belonged to."""
    token = access_api_token(unit.conn, actor, token_id)
    unit.conn.execute(
        update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=unit.now)
    )
    record(
        unit,
        "api_token.revoke",
        operator_id=actor.operator_id,
        target_type="api_token",
        target_id=token_id,
        ip=ip,
    )
    return str(token.operator_id)
