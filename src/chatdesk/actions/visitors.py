"""Visitors: widget sessions (opaque tokens), identity, and profile updates."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from chatdesk.access import public_site
from chatdesk.actions.events import append_event
from chatdesk.db.runner import Unit
from chatdesk.db.tables import visitor_tokens, visitors
from chatdesk.errors import Forbidden
from chatdesk.ids import hash_token, new_id, new_token
from chatdesk.security.identity import verify_identity_token
from chatdesk.security.principals import VisitorActor
from chatdesk.shape_types import Visitor
from chatdesk.shapes import visitor_shape

__all__ = ["VISITOR_TOKEN_PREFIX", "create_session", "update_visitor"]

VISITOR_TOKEN_PREFIX = "cdv_"  # noqa: S105 (a prefix, not a secret)


def create_session(
    unit: Unit,
    site_key: str,
    profile: dict[str, str | None],
    identity_token: str | None,
) -> tuple[str, Visitor]:
    """A new visitor token, for a new visitor or (with a valid identity token) a known one."""
    site = public_site(unit.conn, site_key)
    claims = None
    if identity_token is not None:
        claims = verify_identity_token(identity_token, site.identity_secret, unit.now)
    elif site.identity_required:
        raise Forbidden("This site requires an identity token.")
    values = {k: v for k, v in profile.items() if v is not None}
    if claims is not None:
        values.update({k: v for k, v in (("name", claims.name), ("email", claims.email)) if v})
    row = None
    if claims is not None:
        row = unit.conn.execute(
            select(visitors).where(
                visitors.c.site_id == site.id, visitors.c.external_id == claims.sub
            )
        ).first()
    if row is None:
        visitor_id = new_id()
        unit.conn.execute(
            insert(visitors).values(
                id=visitor_id,
                site_id=site.id,
                external_id=claims.sub if claims else None,
                created_at=unit.now,
                last_seen_at=unit.now,
                **values,
            )
        )
    else:
        visitor_id = row.id
        unit.conn.execute(
            update(visitors)
            .where(visitors.c.id == visitor_id)
            .values(last_seen_at=unit.now, **values)
        )
    token = new_token(VISITOR_TOKEN_PREFIX)
    unit.conn.execute(
        insert(visitor_tokens).values(
            token_hash=hash_token(token), visitor_id=visitor_id, created_at=unit.now
        )
    )
    visitor = unit.conn.execute(select(visitors).where(visitors.c.id == visitor_id)).one()
    return token, visitor_shape(visitor)


def update_visitor(unit: Unit, actor: VisitorActor, profile: dict[str, str | None]) -> Visitor:
    """Set the visitor's own name, email, page URL or time zone; operators get an event."""
    values = {k: v for k, v in profile.items() if v is not None}
    if values:
        unit.conn.execute(
            update(visitors)
            .where(visitors.c.id == actor.visitor_id)
            .values(last_seen_at=unit.now, **values)
        )
    row = unit.conn.execute(select(visitors).where(visitors.c.id == actor.visitor_id)).one()
    shape = visitor_shape(row)
    if values:
        append_event(
            unit,
            "visitor.updated",
            site_id=actor.site_id,
            conversation_id=None,
            visitor_id=actor.visitor_id,
            private=True,
            data={"visitor": shape},
        )
    return shape
