"""Engines for SQLite and PostgreSQL, with the connection settings chatdesk relies on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from chatdesk.db.search_index import index_pending

__all__ = ["make_engine"]

# Where a connection keeps its change count as its transaction began.
_CHANGES = "chatdesk_changes_at_begin"


def make_engine(
    url: str, *, pool_size: int = 5, writer: bool = False, busy_seconds: float = 30
) -> Engine:
    """An engine for ``url``; for SQLite, ``writer`` engines begin ``IMMEDIATE``, and a
    statement waits at most ``busy_seconds`` for a lock (opening the connection too)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, pool_size=pool_size, writer=writer, busy=busy_seconds)
    return create_engine(
        url,
        hide_parameters=True,  # SQL errors must never log message bodies or tokens
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        pool_recycle=1800,
        # An outage must answer 503 quickly, not hold requests: a server that does not
        # answer fails the connection after 3 s, a full pool the checkout after 5 s.
        pool_timeout=5,
        connect_args={"connect_timeout": 3},
    )


def _sqlite_engine(url: str, *, pool_size: int, writer: bool, busy: float) -> Engine:
    engine = create_engine(
        url,
        hide_parameters=True,  # SQL errors must never log message bodies or tokens
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=0,
        # The driver's ``timeout`` is the busy wait of the statements the connection makes
        # as it opens (the pragmas below); ``busy_timeout`` the same for every later one.
        connect_args={"check_same_thread": False, "timeout": busy},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so SAVEPOINTs behave (SQLAlchemy's
        # documented pysqlite recipe) and so the writer can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy * 1000)}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
        connection.info[_CHANGES] = connection.connection.dbapi_connection.total_changes

    @event.listens_for(engine, "commit")
    def _on_commit(connection: Any) -> None:
        # Before the driver commits: the full-text index takes the transaction's new
        # messages (ADR 0031). A transaction that changed nothing (every read) skips it.
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection.total_changes != connection.info.get(_CHANGES):
            index_pending(dbapi_connection)

    return engine
