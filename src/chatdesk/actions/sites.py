"""Sites: the websites that embed the widget, and their widget configuration."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from chatdesk.access import SETTINGS_ROLE, access_site, require_role
from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import (
    REPLY_TIME,
    conversations,
    events,
    operators,
    site_operators,
    sites,
    visitors,
)
from chatdesk.ids import new_id
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import Site
from chatdesk.shapes import site_shape

__all__ = ["SITE_DEFAULTS", "create_site", "delete_site", "update_site"]

SITE_DEFAULTS: dict[str, Any] = {
    "greeting": "Hi there! How can we help?",
    "accent_color": "#2563eb",
    "position": "right",
    "prechat_name": "optional",
    "prechat_email": "optional",
    "offline_message": "We're away right now. Leave a message and your email, and we'll reply.",
    "business_hours": None,
    "enabled": True,
    "identity_required": False,
    "identity_replay_protection": False,
    "require_agent_online": False,
    "reply_time": REPLY_TIME,
    "assignment": "manual",
    "assign_on_reply": True,
}


def create_site(
    unit: Unit, actor: OperatorActor | None, fields: dict[str, Any], ip: str | None = None
) -> Site:
    """A new site with a fresh public key and identity secret; every agent joins it."""
    if actor is not None:
        require_role(actor, SETTINGS_ROLE)
    site_id = new_id()
    values = {**SITE_DEFAULTS, **fields}
    unit.conn.execute(
        insert(sites).values(
            id=site_id,
            site_key="pk_" + secrets.token_urlsafe(16),
            identity_secret=secrets.token_urlsafe(32),
            created_at=unit.now,
            updated_at=unit.now,
            **values,
        )
    )
    agents = unit.conn.execute(
        select(operators.c.id).where(operators.c.role == "agent", operators.c.active.is_(True))
    ).scalars()
    rows = [{"site_id": site_id, "operator_id": operator_id} for operator_id in agents]
    if rows:
        unit.conn.execute(insert(site_operators), rows)
    record(
        unit,
        "site.create",
        operator_id=actor.operator_id if actor else None,
        target_type="site",
        target_id=site_id,
        ip=ip,
        details={"name": values["name"]},
    )
    return site_shape(unit.conn.execute(select(sites).where(sites.c.id == site_id)).one())


def update_site(
    unit: Unit,
    actor: OperatorActor,
    site_id: str,
    fields: dict[str, Any],
    *,
    rotate_identity_secret: bool = False,
    ip: str | None = None,
) -> Site:
    """Change a site's settings (admins and owners)."""
    access_site(unit.conn, actor, site_id, manage=True)
    values = dict(fields)
    if rotate_identity_secret:
        values["identity_secret"] = secrets.token_urlsafe(32)
    if values:
        values["updated_at"] = unit.now
        unit.conn.execute(update(sites).where(sites.c.id == site_id).values(values))
        record(
            unit,
            "site.update",
            operator_id=actor.operator_id,
            target_type="site",
            target_id=site_id,
            ip=ip,
            details={"fields": sorted(k for k in values if k != "updated_at")},
        )
    return site_shape(unit.conn.execute(select(sites).where(sites.c.id == site_id)).one())


def delete_site(unit: Unit, actor: OperatorActor, site_id: str, *, ip: str | None = None) -> None:
    """Delete a site for good (admins and owners): its visitors, their tokens and
    conversations, messages, events, canned responses, webhooks, bot tokens and blocks
    go with it (foreign keys cascade; events carry no key and are deleted here). The
    audit log keeps the entry, with the name and how much was erased."""
    row = access_site(unit.conn, actor, site_id, manage=True)
    counted = unit.conn.execute(
        select(
            select(func.count())
            .select_from(conversations)
            .where(conversations.c.site_id == site_id)
            .scalar_subquery(),
            select(func.count())
            .select_from(visitors)
            .where(visitors.c.site_id == site_id)
            .scalar_subquery(),
        )
    ).one()
    unit.conn.execute(delete(events).where(events.c.site_id == site_id))
    unit.conn.execute(delete(sites).where(sites.c.id == site_id))
    record(
        unit,
        "site.delete",
        operator_id=actor.operator_id,
        target_type="site",
        target_id=site_id,
        ip=ip,
        details={"name": row.name, "conversations": counted[0], "visitors": counted[1]},
    )
