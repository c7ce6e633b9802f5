"""Operator sign-in sessions: created at login (a fresh id each time), revoked at logout."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update

from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_sessions
from chatdesk.ids import hash_token, new_id, new_token

__all__ = [
    "SESSION_TOKEN_PREFIX",
    "OidcSession",
    "create_session",
    "end_oidc_sessions",
    "record_failed_login",
    "revoke_session",
]

SESSION_TOKEN_PREFIX = "cds_"  # noqa: S105 (a prefix, not a secret)


@dataclass(frozen=True)
class OidcSession:
    """Who signed in at the identity provider: its subject, and its session's id when
    the ID token carried one (``sid``)."""

    sub: str
    sid: str | None = None


def create_session(
    unit: Unit,
    operator_id: str,
    *,
    lifetime: timedelta,
    ip: str | None,
    user_agent: str | None,
    method: str | None = None,
    oidc: OidcSession | None = None,
) -> tuple[str, str, str]:
    """A new session for a verified operator: (session id, cookie token, CSRF token).
    ``method`` names a sign-in other than by password ("passkey", "oidc"): kept with the
    session (either meets the two-factor rule) and named in the audit log. ``oidc``:
    the provider's subject and session, which a back-channel logout names."""
    token = new_token(SESSION_TOKEN_PREFIX)
    csrf_token = secrets.token_urlsafe(32)
    session_id = new_id()
    unit.conn.execute(
        insert(operator_sessions).values(
            id=session_id,
            token_hash=hash_token(token),
            operator_id=operator_id,
            csrf_token=csrf_token,
            created_at=unit.now,
            last_seen_at=unit.now,
            expires_at=unit.now + lifetime,
            ip=ip,
            user_agent=(user_agent or "")[:500] or None,
            method=method,
            # Longer than a logout token may name (255): kept as none rather than cut.
            oidc_sub=oidc.sub if oidc and len(oidc.sub) <= 255 else None,
            oidc_sid=oidc.sid if oidc and oidc.sid and len(oidc.sid) <= 255 else None,
        )
    )
    details = {"method": method} if method else None
    record(
        unit, "auth.login", operator_id=operator_id, target_type="session", ip=ip, details=details
    )
    return session_id, token, csrf_token


def record_failed_login(
    unit: Unit, email: str, ip: str | None, *, reason: str | None = None
) -> None:
    """A refused sign-in; ``reason`` "totp" when the password was right but the
    authentication code was not."""
    details = {"email": email[:320], **({"reason": reason} if reason else {})}
    record(unit, "auth.login_failed", operator_id=None, ip=ip, details=details)


def revoke_session(unit: Unit, session_id: str, operator_id: str, ip: str | None) -> None:
    unit.conn.execute(
        update(operator_sessions)
        .where(operator_sessions.c.id == session_id, operator_sessions.c.revoked_at.is_(None))
        .values(revoked_at=unit.now)
    )
    record(unit, "auth.logout", operator_id=operator_id, target_type="session", ip=ip)


def end_oidc_sessions(
    unit: Unit, sub: str | None, sid: str | None, *, issued_at: datetime, ip: str | None
) -> list[str]:
    """A back-channel logout (ADR 0034): end the live single sign-on sessions of the
    provider's subject ``sub`` (those of its session ``sid`` when it names one) that
    began before the logout token was issued, so a replayed token cannot end sessions
    signed in since. The operators whose sessions ended, each audit-logged once."""
    if sub is None and sid is None:
        return []  # a token naming nobody ends nothing (verify_logout refuses it)
    c = operator_sessions.c
    query = select(c.id, c.operator_id).where(
        c.revoked_at.is_(None),
        c.expires_at > unit.now,
        c.method == "oidc",
        c.created_at <= issued_at,
    )
    if sid is None:
        query = query.where(c.oidc_sub == sub)
    elif sub is None:
        query = query.where(c.oidc_sid == sid)
    else:
        # That provider session's; and the subject's whose ID token carried no sid.
        query = query.where(c.oidc_sub == sub, or_(c.oidc_sid == sid, c.oidc_sid.is_(None)))
    ended: dict[str, list[str]] = {}
    for row in unit.conn.execute(query):
        ended.setdefault(str(row.operator_id), []).append(str(row.id))
    ids = [session_id for sessions in ended.values() for session_id in sessions]
    if ids:
        unit.conn.execute(
            update(operator_sessions).where(c.id.in_(ids)).values(revoked_at=unit.now)
        )
    for operator_id, sessions in ended.items():
        details = {"method": "oidc_backchannel", "sessions": len(sessions)}
        record(
            unit,
            "auth.logout",
            operator_id=operator_id,
            target_type="session",
            ip=ip,
            details=details,
        )
    return list(ended)


def touch_session(unit: Unit, session_id: str) -> None:
    """Slide the idle timeout forward (called at most once a minute per session)."""
    unit.conn.execute(
        update(operator_sessions)
        .where(operator_sessions.c.id == session_id)
        .values(last_seen_at=unit.now)
    )
