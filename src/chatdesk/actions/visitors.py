"""Visitors: widget sessions (opaque tokens), identity, and profile updates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatdesk.access import public_site
from chatdesk.actions.blocks import check_session_allowed, refuse_if_blocked
from chatdesk.actions.events import append_event
from chatdesk.db.batch import Unit
from chatdesk.db.tables import identity_token_uses, visitor_tokens, visitors
from chatdesk.errors import Forbidden, Unauthorized, ValidationFailed
from chatdesk.ids import hash_token, new_id, new_token
from chatdesk.security.identity import LEEWAY_SECONDS, IdentityClaims, verify_identity_token
from chatdesk.security.principals import VisitorActor
from chatdesk.shape_types import Visitor
from chatdesk.shapes import visitor_shape

__all__ = [
    "VISITOR_TOKEN_PREFIX",
    "create_session",
    "mark_visitor_seen",
    "touch_visitor_token",
    "update_visitor",
]

# What an identity token vouches for: the visitor cannot change these themselves.
VERIFIED_FIELDS = ("name", "email")

VISITOR_TOKEN_PREFIX = "cdv_"  # noqa: S105 (a prefix, not a secret)


def create_session(
    unit: Unit,
    site_key: str,
    profile: dict[str, str | None],
    identity_token: str | None,
    *,
    ip: str | None = None,
) -> tuple[str, Visitor]:
    """A new visitor token, for a new visitor or (with a valid identity token) a known one.
    Refused (403) while a block of the site names the identity ``sub`` or address ``ip``."""
    site = public_site(unit.conn, site_key)
    claims = None
    if identity_token is not None:
        claims = verify_identity_token(identity_token, site.identity_secret, unit.now)
        if site.identity_replay_protection:
            _use_once(unit, site.id, claims)
    elif site.identity_required:
        raise Forbidden("This site requires an identity token.")
    check_session_allowed(unit.conn, site.id, claims.sub if claims else None, ip, unit.now)
    values = {k: v for k, v in profile.items() if v is not None}
    if ip is not None:
        values["last_ip"] = ip
    if claims is not None:
        # Name and email are the host site's: only the token sets them.
        for field in VERIFIED_FIELDS:
            values.pop(field, None)
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
            token_hash=hash_token(token),
            visitor_id=visitor_id,
            created_at=unit.now,
            last_used_at=unit.now,
        )
    )
    visitor = unit.conn.execute(select(visitors).where(visitors.c.id == visitor_id)).one()
    return token, visitor_shape(visitor)


def _use_once(unit: Unit, site_id: str, claims: IdentityClaims) -> None:
    """Accept this token's ``jti`` once: remembered until the token expires."""
    if claims.jti is None:
        raise Forbidden("This site accepts identity tokens only with a jti claim (a unique id).")
    seen = unit.conn.execute(
        select(identity_token_uses.c.jti).where(
            identity_token_uses.c.site_id == site_id, identity_token_uses.c.jti == claims.jti
        )
    ).first()
    if seen is not None:
        raise Forbidden("This identity token was already used; sign a new one for each session.")
    # Kept past exp by the leeway verification allows, then useless to a replay anyway.
    expires_at = datetime.fromtimestamp(claims.exp + LEEWAY_SECONDS, UTC)
    try:
        unit.conn.execute(
            insert(identity_token_uses).values(
                site_id=site_id, jti=claims.jti, expires_at=expires_at
            )
        )
    except IntegrityError:  # the same token in a concurrent transaction
        raise Forbidden("This identity token was already used.") from None
    unit.conn.execute(
        delete(identity_token_uses).where(identity_token_uses.c.expires_at < unit.now)
    )


def touch_visitor_token(unit: Unit, token_hash: str) -> None:
    """Slide a visitor token's inactivity expiry forward (called at most once per interval
    per token and process; see web/deps.py)."""
    unit.conn.execute(
        update(visitor_tokens)
        .where(visitor_tokens.c.token_hash == token_hash)
        .values(last_used_at=unit.now)
    )


def _keep_verified(row: Row[Any], values: dict[str, str]) -> None:
    """Refuse a change to what the host site's identity token vouches for; the same
    value again is no change and passes (the host page may send it on every load)."""
    changed = [f for f in VERIFIED_FIELDS if f in values and values[f] != getattr(row, f)]
    if changed:
        raise ValidationFailed(
            "This visitor was identified by the site; their name and email come from the "
            "site's identity token and cannot be changed here.",
            [
                {"loc": ["body", field], "msg": "set by the identity token", "type": "verified"}
                for field in changed
            ],
        )
    for field in VERIFIED_FIELDS:
        values.pop(field, None)


def update_visitor(unit: Unit, actor: VisitorActor, profile: dict[str, str | None]) -> Visitor:
    """Set the visitor's own name, email, page URL or time zone; operators get an event.
    An identified visitor's name and email are the host site's (422 when changed)."""
    values = {k: v for k, v in profile.items() if v is not None}
    row = unit.conn.execute(select(visitors).where(visitors.c.id == actor.visitor_id)).first()
    if row is None:
        raise Unauthorized("This visitor no longer exists; start a new session.")
    refuse_if_blocked(row.blocked_until, unit.now)
    if row.external_id is not None:
        _keep_verified(row, values)
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


def mark_visitor_seen(unit: Unit, visitor_id: str) -> None:
    """The visitor has the widget connected now (their event stream is open): replies
    written before this are seen, and no email digest carries them."""
    unit.conn.execute(
        update(visitors).where(visitors.c.id == visitor_id).values(last_seen_at=unit.now)
    )
