"""Sites: the settings list, the inbox's site filter, and the demo page's site."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Select, select

from chatdesk.db.tables import sites
from chatdesk.security.principals import OperatorActor
from chatdesk.shape_types import InboxSite, Site
from chatdesk.shapes import site_name_shape, site_shape

__all__ = ["demo_site", "inbox_sites", "list_sites"]


def list_sites(conn: Connection) -> list[Site]:
    """Every site, oldest first, identity secrets included (the settings list)."""
    rows = conn.execute(select(sites).order_by(sites.c.created_at)).all()
    return [site_shape(row) for row in rows]


def inbox_sites(conn: Connection, actor: OperatorActor) -> list[InboxSite]:
    """Id and name of the sites whose conversations ``actor`` sees, by name."""
    query: Select[Any] = select(sites.c.id, sites.c.name).order_by(sites.c.name)
    if actor.site_ids is not None:
        query = query.where(sites.c.id.in_(sorted(actor.site_ids)))
    return [site_name_shape(row) for row in conn.execute(query).all()]


def demo_site(conn: Connection, own_origin: str, name: str) -> Row[Any] | None:
    """The enabled site the demo page embeds: the one called ``name``, else the first
    that allows ``own_origin``, else None."""
    rows = conn.execute(
        select(sites).where(sites.c.enabled.is_(True)).order_by(sites.c.created_at)
    ).all()
    named = [r for r in rows if r.name == name]
    matching = [r for r in rows if own_origin in [o.lower() for o in r.allowed_origins]]
    found = named or matching
    return found[0] if found else None
