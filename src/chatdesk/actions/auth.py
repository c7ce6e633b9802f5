"""Operator sign-in sessions: created at login (a fresh id each time), revoked at logout."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import insert, update

from chatdesk.actions.audit import record
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_sessions
from chatdesk.ids import hash_token, new_id, new_token

__all__ = ["SESSION_TOKEN_PREFIX", "create_session", "record_failed_login", "revoke_session"]

SESSION_TOKEN_PREFIX = "cds_"  # noqa: S105 (a prefix, not a secret)


def create_session(
    unit: Unit,
    operator_id: str,
    *,
    lifetime: timedelta,
    ip: str | None,
    user_agent: str | None,
    method: str | None = None,
) -> tuple[str, str, str]:
    """A new session for a verified operator: (session id, cookie token, CSRF token).
    ``method`` names a sign-in other than by password ("passkey", "oidc"): kept with the
    session (either meets the two-factor rule) and named in the audit log."""
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


def touch_session(unit: Unit, session_id: str) -> None:
    """Slide the idle timeout forward (called at most once a minute per session)."""
    unit.conn.execute(
        update(operator_sessions)
        .where(operator_sessions.c.id == session_id)
        .values(last_seen_at=unit.now)
    )
