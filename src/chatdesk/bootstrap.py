"""First start: make the schema current and, on an empty database, the first owner."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from chatdesk.actions.operators import create_operator
from chatdesk.actions.sites import create_site
from chatdesk.db.migrate import current_revision, head_revision, upgrade
from chatdesk.db.runner import Database, Unit
from chatdesk.db.tables import operators, sites
from chatdesk.errors import ChatdeskError
from chatdesk.security.passwords import hash_password

__all__ = ["FirstOwner", "create_first_owner", "ensure_schema"]

FIRST_OWNER_EMAIL = "owner@chatdesk.local"


class SchemaOutdated(ChatdeskError):
    code, status = "schema_outdated", 503
    default_message = "The database schema is not current; run `chatdesk migrate`."


def ensure_schema(engine: Engine, *, auto: bool) -> None:
    """Migrate when ``auto`` (SQLite); otherwise refuse to run on an outdated schema."""
    if auto:
        upgrade(engine)
        return
    if current_revision(engine) != head_revision():
        raise SchemaOutdated()


@dataclass(frozen=True)
class FirstOwner:
    email: str
    password: str


def create_first_owner(db: Database, origin: str) -> FirstOwner | None:
    """On a database with no operator: an owner with a random password, and a first site.

    Returns the credentials (to print once) or None when operators already exist.
    """
    if db.read_sync(
        lambda conn: conn.execute(select(func.count()).select_from(operators)).scalar()
    ):
        return None
    password = secrets.token_urlsafe(12)
    db.write_sync(_first_owner, origin, hash_password(password))
    return FirstOwner(FIRST_OWNER_EMAIL, password)


def _first_owner(unit: Unit, origin: str, password_hash: str) -> None:
    if unit.conn.execute(select(func.count()).select_from(sites)).scalar() == 0:
        create_site(unit, None, {"name": "My website", "allowed_origins": [origin]})
    create_operator(
        unit,
        None,
        email=FIRST_OWNER_EMAIL,
        name="Owner",
        role="owner",
        password_hash=password_hash,
    )
