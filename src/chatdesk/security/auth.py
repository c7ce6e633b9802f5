"""Resolving credentials to principals: visitor tokens, operator sessions, API tokens.

Tokens are looked up by their SHA-256 (the only form stored); the fetched hash
is compared again with ``hmac.compare_digest`` so no code path compares a
secret with ``==``.

Visitor lookups, repeated by every widget request, are cached in process
(:class:`VisitorCache`). What a visitor token resolves to (visitor, site) never
changes, and no action revokes a visitor token or deletes a visitor, so a
cached entry is never stale. A token expires after a period without use: the
entry carries the token's last use, which the caller checks without a read and
slides forward (a write, at most once per interval). Operator sessions and API
tokens are not cached: they are looked up on every request, so revoking one
takes effect at once.
Whatever comes to revoke visitor tokens must also drop them from every
process's cache (the TTL alone would leave a revoked token usable for a minute).
"""

from __future__ import annotations

import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select

from chatdesk.clock import aware
from chatdesk.db.tables import (
    api_tokens,
    operator_sessions,
    operator_totp,
    operators,
    org_settings,
    site_operators,
    visitor_tokens,
    visitors,
)
from chatdesk.ids import hash_token
from chatdesk.security.principals import BOT_ROLE, OperatorActor, VisitorActor, role_at_least

__all__ = [
    "SessionState",
    "VisitorCache",
    "VisitorState",
    "operator_from_api_token",
    "operator_from_session",
    "visitor_from_token",
    "visitor_state",
]

_TOKEN_SHAPE = re.compile(r"^cd[vsk]_[A-Za-z0-9_-]{43}$")


def well_formed(token: str, prefix: str) -> bool:
    return token.startswith(prefix) and _TOKEN_SHAPE.match(token) is not None


@dataclass(slots=True)
class VisitorState:
    """A visitor token's visitor, and when the token was last used (as far as this
    process knows: it slides ``last_used_at`` forward when it records a use)."""

    actor: VisitorActor
    last_used_at: datetime


def visitor_state(conn: Connection, token: str) -> VisitorState | None:
    """The visitor behind a token, with the token's last use; None for an unknown token."""
    if not well_formed(token, "cdv_"):
        return None
    digest = hash_token(token)
    row = conn.execute(
        select(
            visitor_tokens.c.token_hash,
            visitor_tokens.c.last_used_at,
            visitors.c.id,
            visitors.c.site_id,
        )
        .join(visitors, visitors.c.id == visitor_tokens.c.visitor_id)
        .where(visitor_tokens.c.token_hash == digest, visitor_tokens.c.revoked_at.is_(None))
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    actor = VisitorActor(visitor_id=row.id, site_id=row.site_id, token_hash=digest)
    return VisitorState(actor, aware(row.last_used_at))


def visitor_from_token(conn: Connection, token: str) -> VisitorActor | None:
    """The visitor behind a token, however long unused (tools and tests)."""
    state = visitor_state(conn, token)
    return state.actor if state is not None else None


class VisitorCache:
    """token hash -> VisitorState, bounded in size and age (an entry lives ``ttl`` seconds)."""

    def __init__(self, max_entries: int = 100_000, ttl: float = 60.0) -> None:
        self._items: OrderedDict[str, tuple[float, VisitorState]] = OrderedDict()
        self.max_entries, self.ttl = max_entries, ttl

    def get(self, token: str) -> VisitorState | None:
        key = hash_token(token)
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, state: VisitorState) -> None:
        key = state.actor.token_hash
        self._items[key] = (time.monotonic() + self.ttl, state)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def drop(self, state: VisitorState) -> None:
        self._items.pop(state.actor.token_hash, None)

    def clear(self) -> None:
        """Forget every entry (a site and its visitors were deleted)."""
        self._items.clear()

    def forget(self, visitor_ids: Collection[str]) -> None:
        """Forget the tokens of these visitors (erased): a walk of the cache, for a rare
        event, so that a lookup stays one dict access."""
        gone = set(visitor_ids)
        for key in [k for k, (_, state) in self._items.items() if state.actor.visitor_id in gone]:
            del self._items[key]


def _site_ids(conn: Connection, operator_id: str, role: str) -> frozenset[str] | None:
    if role_at_least(role, "admin"):
        return None
    rows = conn.execute(
        select(site_operators.c.site_id).where(site_operators.c.operator_id == operator_id)
    ).scalars()
    return frozenset(rows)


@dataclass(frozen=True)
class SessionState:
    actor: OperatorActor
    last_seen_at: datetime


# Whether an owner requires two-factor sign-in for everyone (ADR 0030): read with the
# session, in the same statement, so the rule holds at once in every process.
_REQUIRE_TOTP = (
    select(org_settings.c.value)
    .where(org_settings.c.key == "require_totp")
    .scalar_subquery()
    .label("require_totp")
)

# Built once: every operator request runs it, and a prebuilt statement skips
# SQLAlchemy's per-call construction and cache-key work.
_SESSION = (
    select(
        operator_sessions.c.id.label("session_id"),
        operator_sessions.c.token_hash,
        operator_sessions.c.csrf_token,
        operator_sessions.c.expires_at,
        operator_sessions.c.last_seen_at,
        operator_sessions.c.revoked_at,
        operator_sessions.c.method,
        operators.c.id,
        operators.c.name,
        operators.c.email,
        operators.c.role,
        operators.c.active,
        operators.c.must_change_password,
        operator_totp.c.secret.label("totp_secret"),
        _REQUIRE_TOTP,
    )
    .join(operators, operators.c.id == operator_sessions.c.operator_id)
    .outerjoin(operator_totp, operator_totp.c.operator_id == operators.c.id)
    .where(operator_sessions.c.token_hash == bindparam("digest"))
)


def operator_from_session(
    conn: Connection, token: str, now: datetime, idle: timedelta
) -> SessionState | None:
    """The signed-in operator of a session cookie, if the session is live."""
    if not well_formed(token, "cds_"):
        return None
    digest = hash_token(token)
    row = conn.execute(_SESSION, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    last_seen = aware(row.last_seen_at)
    if (
        row.revoked_at is not None
        or not row.active
        or aware(row.expires_at) <= now
        or last_seen + idle <= now
    ):
        return None
    actor = OperatorActor(
        operator_id=row.id,
        name=row.name,
        email=row.email,
        role=row.role,
        site_ids=_site_ids(conn, row.id, row.role),
        session_id=row.session_id,
        csrf_token=row.csrf_token,
        must_change_password=bool(row.must_change_password),
        # A passkey or single sign-on is a second factor already (ADR 0030).
        totp_setup_required=(
            row.require_totp is True and row.totp_secret is None and row.method is None
        ),
    )
    return SessionState(actor, last_seen)


def operator_from_api_token(conn: Connection, token: str) -> OperatorActor | None:
    """The operator an API token acts as, with the token's role."""
    if not well_formed(token, "cdk_"):
        return None
    digest = hash_token(token)
    row = conn.execute(
        select(
            api_tokens.c.id.label("token_id"),
            api_tokens.c.token_hash,
            api_tokens.c.role.label("token_role"),
            api_tokens.c.name.label("token_name"),
            api_tokens.c.site_id.label("token_site_id"),
            api_tokens.c.revoked_at,
            operators.c.id,
            operators.c.name,
            operators.c.email,
            operators.c.role,
            operators.c.active,
        )
        .join(operators, operators.c.id == api_tokens.c.operator_id)
        .where(api_tokens.c.token_hash == digest)
    ).first()
    if (
        row is None
        or not hmac.compare_digest(row.token_hash, digest)
        or row.revoked_at is not None
        or not row.active
    ):
        return None
    if row.token_role == BOT_ROLE:
        return _bot(conn, row)
    # A token never acts above its creator's current role.
    role = row.token_role if role_at_least(row.role, row.token_role) else row.role
    return OperatorActor(
        operator_id=row.id,
        name=row.name,
        email=row.email,
        role=role,
        site_ids=_site_ids(conn, row.id, role),
        api_token_id=row.token_id,
    )


def _bot(conn: Connection, row: Any) -> OperatorActor:
    """A bot token: its own name, its one site (while its creator may still see it)."""
    creator_sites = _site_ids(conn, row.id, row.role)
    site_id = row.token_site_id
    sites = frozenset({site_id}) if creator_sites is None or site_id in creator_sites else None
    return OperatorActor(
        operator_id=row.id,
        name=row.token_name,
        email=row.email,
        role=BOT_ROLE,
        site_ids=sites or frozenset(),
        api_token_id=row.token_id,
    )
