"""First start: make the schema current and, on an empty database, the first owner."""

from __future__ import annotations

import ast
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text

from chatdesk.actions.operators import create_operator
from chatdesk.actions.sites import create_site
from chatdesk.db.runner import Database, Unit
from chatdesk.db.tables import operators, sites
from chatdesk.errors import ChatdeskError
from chatdesk.security.passwords import hash_password

__all__ = ["FirstOwner", "create_first_owner", "ensure_schema", "schema_is_current"]

FIRST_OWNER_EMAIL = "owner@chatdesk.local"
_VERSIONS = Path(__file__).parent / "db" / "migrations" / "versions"


class SchemaOutdated(ChatdeskError):
    code, status = "schema_outdated", 503
    default_message = "The database schema is not current; run `chatdesk migrate`."


def ensure_schema(engine: Engine, *, auto: bool) -> None:
    """Migrate when ``auto`` (SQLite); otherwise refuse to run on an outdated schema."""
    if schema_is_current(engine):
        return
    # Alembic only when there is work for it: it brings in every SQL dialect, Mako and
    # Pygments lexers (about 10 MiB) that a server process would keep for its whole life.
    from chatdesk.db.migrate import current_revision, head_revision, upgrade

    if auto:
        upgrade(engine)
        return
    if current_revision(engine) != head_revision():
        raise SchemaOutdated()


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration, found without importing Alembic:
    its version table against the migration scripts' own ``revision`` names."""
    head = _script_head()
    with engine.connect() as conn:
        if head is None or not inspect(conn).has_table("alembic_version"):
            return False
        stored = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return stored == [head]


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


def _script_head() -> str | None:
    """The one revision no other script revises; None if the history has several heads
    (Alembic then decides)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in _VERSIONS.glob("*.py"):
        for name, value in _assignments(path, ("revision", "down_revision")):
            if name == "revision":
                revisions.add(value)
            elif isinstance(value, str):
                revised.add(value)
            elif value is not None:  # a merge revises several
                revised.update(value)
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def _assignments(path: Path, names: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """The literal values a script assigns to ``names`` at module level (``x = v`` or
    ``x: T = v``, the two forms Alembic's templates write)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            yield target.id, ast.literal_eval(value)
