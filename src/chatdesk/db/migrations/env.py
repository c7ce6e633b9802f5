"""Alembic environment: runs against the connection chatdesk hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from chatdesk.db.engine import make_engine
from chatdesk.db.search_index import include_name
from chatdesk.db.sqlite_foreign_keys import migrate_without_foreign_keys
from chatdesk.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    """One transaction for the whole run: the caller's, or one begun here (before Alembic
    is configured, so that Alembic runs inside it instead of committing per revision)."""
    if connection.dialect.name == "sqlite":
        migrate_without_foreign_keys(connection, lambda: _migrate(connection))
    elif connection.in_transaction():
        _migrate(connection)
    else:
        with connection.begin():
            _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", writer=True)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("chatdesk migrations run online only")
run_migrations_online()
