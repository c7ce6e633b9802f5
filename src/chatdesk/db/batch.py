"""One group commit: every queued unit of work in one transaction, each failing alone.

Every writer runs its batches through :func:`run_batch` (by way of
:func:`chatdesk.db.packing.run_packed`): the writer thread (PostgreSQL, and
SQLite when ``CHATDESK_SQLITE_WRITER=thread``) and the writer process's child
(SQLite's default). See :mod:`chatdesk.db.writer` for the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect

from chatdesk.db.direct import Direct, cursor_of

__all__ = ["EVENT_APPEND_LOCK", "Call", "Outcome", "Unit", "newest_event", "run_batch"]

# Arbitrary, fixed key: every chatdesk process appending events takes this lock.
EVENT_APPEND_LOCK = 0x63686174


@dataclass
class Unit:
    """What an action gets: the open transaction, its time, and the events it appended.

    ``cursor`` is a DBAPI cursor on the same connection and transaction, for
    :class:`chatdesk.db.direct.Direct` statements on the hot path.
    """

    conn: Connection
    now: datetime
    cursor: Any = None
    event_ids: list[int] = field(default_factory=list)

    @property
    def dialect(self) -> Dialect:
        return self.conn.dialect

    def run(self, statement: Direct, values: Mapping[str, Any]) -> Any:
        """Execute a :class:`Direct` statement in this unit; returns the DBAPI cursor."""
        return statement.run(self.cursor, self.conn.dialect, values)

    def first(self, statement: Direct, values: Mapping[str, Any]) -> Any:
        """The first row of a :class:`Direct` statement as a plain tuple, or None."""
        return statement.run(self.cursor, self.conn.dialect, values).fetchone()


@dataclass
class Call:
    """One unit of work: ``fn(unit, *args, **kwargs)`` at ``now``, the time its caller
    took when it queued the unit."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    now: datetime


class _Replay(Exception):
    """A unit failed after writing, in a batch run without SAVEPOINTs: run it again with them."""


# Per unit: (value, None) or (None, error); a Unit when it ran, for its event ids and hooks.
Outcome = tuple[Any, BaseException | None, Unit | None]


def run_batch(engine: Engine, calls: list[Call], *, is_sqlite: bool) -> list[Outcome]:
    """Run ``calls`` in one transaction and commit; one outcome per call, in order.

    On PostgreSQL each unit runs in its own SAVEPOINT, after a transaction-scoped
    advisory lock that makes event ids visible in id order across processes. SQLite
    first runs the batch without SAVEPOINTs (see :func:`_run_optimistic`). Raises
    when the transaction itself fails (connection, lock or commit): then nothing in
    the batch happened.
    """
    try:
        return _run(engine, calls, is_sqlite=is_sqlite, savepoints=not is_sqlite)
    except _Replay:
        return _run(engine, calls, is_sqlite=is_sqlite, savepoints=True)


def _run(engine: Engine, calls: list[Call], *, is_sqlite: bool, savepoints: bool) -> list[Outcome]:
    done: list[Outcome] = []
    with engine.connect() as conn, conn.begin():
        cursor = cursor_of(conn)
        if not is_sqlite:
            cursor.execute(f"SELECT pg_advisory_xact_lock({EVENT_APPEND_LOCK})")
        run = _run_savepoint if savepoints else _run_optimistic
        for call in calls:
            done.append(run(Unit(conn=conn, now=call.now, cursor=cursor), call))
        cursor.close()
    return done


def _run_optimistic(unit: Unit, call: Call) -> Outcome:
    """A unit without a SAVEPOINT (SQLite only), which saves the writer two statements
    per unit. A unit that fails having changed no row (SQLite's ``total_changes``
    counts every row inserted, updated or deleted; a failing statement undoes its
    own changes) fails alone, as with a SAVEPOINT. One that fails after changing
    rows, or that ended the transaction, raises :class:`_Replay`: the batch is
    rolled back and run again, each unit in its own SAVEPOINT."""
    driver = unit.cursor.connection
    changes = driver.total_changes
    try:
        value = call.fn(unit, *call.args, **call.kwargs)
    except Exception as exc:
        if driver.total_changes != changes or not driver.in_transaction:
            raise _Replay() from exc
        return None, exc, unit
    return value, None, unit


def _run_savepoint(unit: Unit, call: Call) -> Outcome:
    # The SAVEPOINT goes straight to the driver: through begin_nested() the pair
    # costs about 70 times as much (see chatdesk.db.direct).
    cursor = unit.cursor
    cursor.execute("SAVEPOINT unit")
    try:
        value = call.fn(unit, *call.args, **call.kwargs)
    except Exception as exc:
        cursor.execute("ROLLBACK TO SAVEPOINT unit")
        cursor.execute("RELEASE SAVEPOINT unit")
        return None, exc, unit
    cursor.execute("RELEASE SAVEPOINT unit")
    return value, None, unit


def newest_event(outcomes: list[Outcome]) -> int:
    """The highest event id the committed units appended (0 if none)."""
    newest = 0
    for _value, error, unit in outcomes:
        if error is None and unit is not None and unit.event_ids:
            newest = max(newest, *unit.event_ids)
    return newest
