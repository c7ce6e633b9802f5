"""SQLite migrations run with foreign keys off, and are checked before they commit.

On SQLite, Alembic's batch mode rebuilds a table to change it: a copy is created and
filled, the old table dropped, the copy renamed. With foreign keys on, that DROP first
deletes every row, and ON DELETE CASCADE empties the tables that refer to it (a rebuilt
``sites`` takes every visitor, conversation and message with it). SQLite's own recipe
for schema changes (https://www.sqlite.org/lang_altertable.html#otheralter): foreign
keys off before the transaction (the pragma does nothing inside one), the changes,
``PRAGMA foreign_key_check`` before the commit, foreign keys back on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

__all__ = ["ForeignKeyViolations", "migrate_without_foreign_keys"]

_SHOWN = 5  # the broken references named in the error; the rest are counted


class ForeignKeyViolations(Exception):
    """A migration left rows that refer to rows that do not exist; it was rolled back."""


def migrate_without_foreign_keys(connection: Connection, migrate: Callable[[], None]) -> None:
    """Run ``migrate`` on a SQLite ``connection`` in one transaction with foreign keys
    off, and roll it back (raising :class:`ForeignKeyViolations`) if it leaves a broken
    reference. ``connection`` must not be in a transaction yet, unless it does not
    enforce foreign keys: inside a transaction they cannot be turned off."""
    if connection.in_transaction():
        if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise RuntimeError(
                "SQLite migrations need a connection outside a transaction: foreign keys "
                "cannot be turned off inside one, and a rebuilt table would delete the "
                "rows that refer to it"
            )
        migrate()
        _check(connection)
        return
    driver: Any = connection.connection.driver_connection
    before = _pragma(driver)
    driver.execute("PRAGMA foreign_keys=OFF")
    if _pragma(driver):  # a transaction the driver began on its own
        raise RuntimeError("could not turn SQLite foreign keys off for the migration")
    try:
        with connection.begin():
            migrate()
            _check(connection)
    finally:
        if not connection.invalidated:
            driver.execute(f"PRAGMA foreign_keys={'ON' if before else 'OFF'}")


def _pragma(driver: Any) -> bool:
    """Whether the DB-API connection enforces foreign keys (read without SQLAlchemy,
    whose first statement would begin a transaction)."""
    return bool(driver.execute("PRAGMA foreign_keys").fetchone()[0])


def _check(connection: Connection) -> None:
    """Raise when any row refers to a row that is not there (inside the transaction, so
    the caller's rollback leaves the database as it was)."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if not broken:
        return
    named = ", ".join(f"{row[0]} rowid {row[1]} -> {row[2]}" for row in broken[:_SHOWN])
    more = f" and {len(broken) - _SHOWN} more" if len(broken) > _SHOWN else ""
    rows = "1 row refers" if len(broken) == 1 else f"{len(broken)} rows refer"
    raise ForeignKeyViolations(
        f"after the migration {rows} to rows that do not exist ({named}{more}); "
        "it was rolled back and the database is unchanged"
    )
