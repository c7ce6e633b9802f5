"""Who may do what: the only way to fetch a user-visible row by id, and the role rules.

"Not yours" and "not there" raise the same :class:`NotFound`, so an id's
existence never leaks to someone who may not see it. Actions call these for
every write; handlers call them for what they read; nothing else decides a
permission.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, select

from chatdesk.db.tables import (
    api_tokens,
    canned_responses,
    conversations,
    operators,
    outbox,
    sites,
    visitor_blocks,
    visitors,
    webhooks,
)
from chatdesk.errors import Forbidden, NotFound
from chatdesk.security.principals import OperatorActor, VisitorActor

__all__ = [
    "AUDIT_LOG_ROLE",
    "SETTINGS_ROLE",
    "access_api_token",
    "access_block",
    "access_canned_response",
    "access_conversation",
    "access_email_job",
    "access_operator",
    "access_site",
    "access_visitor",
    "access_webhook",
    "access_webhook_delivery",
    "has_role",
    "may_see_conversation",
    "may_use_canned_response",
    "public_site",
    "report_sites",
    "require_person",
    "require_role",
    "require_session",
]

Actor = OperatorActor | VisitorActor

# Sites, operators, canned responses, API tokens and webhooks are managed from this role up;
# the audit log is read from this one. The console's settings pages ask the same.
SETTINGS_ROLE = "admin"
AUDIT_LOG_ROLE = "owner"

_BY_ID: dict[str, Any] = {}


def _by_id(conn: Connection, table: Table, row_id: str) -> Row[Any] | None:
    statement = _BY_ID.get(table.name)
    if statement is None:  # built once per table; reused with its memoized cache key
        statement = _BY_ID[table.name] = select(table).where(table.c.id == bindparam("b_id"))
    return conn.execute(statement, {"b_id": row_id}).first()


def has_role(actor: Actor, minimum: str) -> bool:
    """Whether ``actor`` is an operator of at least ``minimum`` role."""
    return isinstance(actor, OperatorActor) and actor.at_least(minimum)


def require_role(actor: Actor, minimum: str) -> OperatorActor:
    """``actor`` as an operator of at least ``minimum`` role, or Forbidden."""
    if not isinstance(actor, OperatorActor) or not actor.at_least(minimum):
        raise Forbidden(f"This needs the {minimum} role or higher.")
    return actor


def require_session(actor: OperatorActor, doing: str) -> OperatorActor:
    """``actor`` if it signed in with a session, or Forbidden for an API token's call:
    for what only the person may do (``doing``: e.g. "Change passwords")."""
    if actor.session_id is None:
        raise Forbidden(f"{doing} from a signed-in session, not with an API token.")
    return actor


def require_person(actor: OperatorActor, doing: str) -> OperatorActor:
    """``actor`` unless it is a bot token, which acts on conversations only: Forbidden
    for what concerns an operator's own account (``doing``: e.g. "Read your profile")."""
    if actor.is_bot:
        raise Forbidden(f"{doing}: a bot token acts on its site's conversations only.")
    return actor


def may_see_conversation(actor: Actor, site_id: str, visitor_id: str) -> bool:
    """The rule: a conversation is its own visitor's, and its site's operators'."""
    if isinstance(actor, VisitorActor):
        return visitor_id == actor.visitor_id
    return actor.can_see_site(site_id)


def access_conversation(conn: Connection, actor: Actor, conversation_id: str) -> Row[Any]:
    """The conversation if ``actor`` may see it: its own visitor, or an operator of its site."""
    row = _by_id(conn, conversations, conversation_id)
    if row is None or not may_see_conversation(actor, row.site_id, row.visitor_id):
        raise NotFound("Conversation not found.")
    return row


def public_site(conn: Connection, site_key: str) -> Row[Any]:
    """The enabled site with this public key; a disabled site looks exactly like an unknown one."""
    row = conn.execute(select(sites).where(sites.c.site_key == site_key)).first()
    if row is None or not row.enabled:
        raise NotFound("Unknown site.")
    return row


def access_site(conn: Connection, actor: Actor, site_id: str, *, manage: bool = False) -> Row[Any]:
    """A site the operator belongs to; with ``manage``, only admins and owners get it."""
    if not isinstance(actor, OperatorActor):
        raise NotFound("Site not found.")
    if manage:
        require_role(actor, SETTINGS_ROLE)
    row = _by_id(conn, sites, site_id)
    if row is None or not actor.can_see_site(row.id):
        raise NotFound("Site not found.")
    return row


def access_operator(conn: Connection, actor: Actor, operator_id: str) -> Row[Any]:
    """Another operator's record, for admins and owners."""
    require_role(actor, SETTINGS_ROLE)
    row = _by_id(conn, operators, operator_id)
    if row is None:
        raise NotFound("Operator not found.")
    return row


def access_canned_response(conn: Connection, actor: Actor, canned_id: str) -> Row[Any]:
    """A canned response to change, for admins and owners: a global one, or one of a site
    the operator reaches (every site, for these roles)."""
    operator = require_role(actor, SETTINGS_ROLE)
    row = _by_id(conn, canned_responses, canned_id)
    if row is None or not may_use_canned_response(operator, row.site_id):
        raise NotFound("Canned response not found.")
    return row


def may_use_canned_response(actor: OperatorActor, site_id: str | None) -> bool:
    """The rule: a global response is every operator's; a site's, that site's operators'."""
    return site_id is None or actor.can_see_site(site_id)


def access_api_token(conn: Connection, actor: Actor, token_id: str) -> Row[Any]:
    require_role(actor, SETTINGS_ROLE)
    row = _by_id(conn, api_tokens, token_id)
    if row is None or row.revoked_at is not None:
        raise NotFound("API token not found.")
    return row


def access_webhook(conn: Connection, actor: Actor, webhook_id: str) -> Row[Any]:
    """A webhook, for admins and owners (of every site, as all settings are)."""
    require_role(actor, SETTINGS_ROLE)
    row = _by_id(conn, webhooks, webhook_id)
    if row is None:
        raise NotFound("Webhook not found.")
    return row


def access_email_job(conn: Connection, actor: Actor, job_id: str) -> Row[Any]:
    """An email job of the outbox (its kind starts with ``email``), for admins and owners
    (of every site, as all settings are); any other job is not found."""
    require_role(actor, SETTINGS_ROLE)
    row = _by_id(conn, outbox, job_id)
    if row is None or not str(row.kind).startswith("email"):
        raise NotFound("Email not found.")
    return row


def access_webhook_delivery(
    conn: Connection, actor: Actor, webhook_id: str, delivery_id: str
) -> Row[Any]:
    """One delivery of a webhook, for admins and owners; another webhook's is not found."""
    access_webhook(conn, actor, webhook_id)
    row = _by_id(conn, outbox, delivery_id)
    if row is None or row.webhook_id != webhook_id:
        raise NotFound("Delivery not found.")
    return row


def access_visitor(conn: Connection, actor: Actor, visitor_id: str) -> Row[Any]:
    """A visitor of a site the operator belongs to (to block them)."""
    row = _by_id(conn, visitors, visitor_id)
    if row is None or not isinstance(actor, OperatorActor) or not actor.can_see_site(row.site_id):
        raise NotFound("Visitor not found.")
    return row


def access_block(conn: Connection, actor: Actor, block_id: str) -> Row[Any]:
    """A block of a visitor of a site the operator belongs to."""
    row = _by_id(conn, visitor_blocks, block_id)
    if row is None or not isinstance(actor, OperatorActor) or not actor.can_see_site(row.site_id):
        raise NotFound("Block not found.")
    return row


def report_sites(conn: Connection, actor: Actor, site_id: str | None) -> list[str] | None:
    """The sites a report may count for ``actor`` (None: every site, for admins and
    owners): one of theirs when ``site_id`` is given, else all of theirs. Agents see
    their sites' reports; bot tokens and visitors see none (ADR 0026)."""
    operator = require_role(actor, "agent")
    if site_id is not None:
        return [access_site(conn, operator, site_id).id]
    if operator.site_ids is None:
        return None
    return sorted(operator.site_ids)
