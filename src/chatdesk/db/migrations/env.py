"""Alembic environment: runs against the connection chatdesk hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from chatdesk.db.engine import make_engine
from chatdesk.db.search_index import include_name
from chatdesk.db.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
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
