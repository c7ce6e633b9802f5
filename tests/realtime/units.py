"""Units of work for the writer tests: importable functions, as every writer requires."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from chatdesk.actions.events import append_event
from chatdesk.db.runner import Unit
from chatdesk.db.tables import meta
from chatdesk.errors import Conflict


def insert_key(unit: Unit, key: str, *, event: bool) -> int | None:
    """Insert ``key`` into meta, and with ``event`` an event; returns the event id."""
    unit.conn.execute(meta.insert().values(key=key, value="v"))
    if not event:
        return None
    return append_event(
        unit,
        "test.event",
        site_id="s",
        conversation_id=None,
        visitor_id=None,
        private=True,
        data={"key": key},
    )


def put(unit: Unit, key: str, *, fail: bool = False, event: bool = False) -> Any:
    """Insert ``key`` into meta (and an event); ``fail`` raises a Conflict afterwards."""
    event_id = insert_key(unit, key, event=event)
    if fail:
        raise Conflict(f"refused {key}")
    # Units of one batch share one transaction: the marker tells batches apart.
    return os.getpid(), unit.now, event_id, id(unit.conn.get_transaction())


def crash(unit: Unit, key: str) -> None:
    """A bug: not one of chatdesk's errors, after writing."""
    unit.conn.execute(meta.insert().values(key=key, value="v"))
    raise ZeroDivisionError("a bug in a unit")


def unanswerable(unit: Unit, key: str) -> Any:
    """Writes, then returns a result that cannot be pickled back to the server."""
    unit.conn.execute(meta.insert().values(key=key, value="v"))
    return threading.Lock()


def put_large(unit: Unit, key: str, size: int) -> None:
    unit.conn.execute(meta.insert().values(key=key, value="x" * size))


def sleep_then_put(unit: Unit, key: str, seconds: float) -> Any:
    threading.Event().wait(seconds)
    return put(unit, key)


def stored_keys(unit: Unit) -> list[str]:
    return list(unit.conn.execute(select(meta.c.key)).scalars())


def put_value(unit: Unit, key: str, value: str) -> int:
    """Insert ``key`` with ``value`` (a large argument travels with the unit)."""
    unit.conn.execute(meta.insert().values(key=key, value=value))
    return len(value)


def autocheckpoint(unit: Unit) -> Any:
    """The write connection's ``wal_autocheckpoint`` setting."""
    return unit.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()


def echo_value(unit: Unit, key: str, value: str) -> str:
    """Insert ``key`` with ``value`` and send ``value`` back (large both ways)."""
    unit.conn.execute(meta.insert().values(key=key, value=value))
    return value


class Boom(Exception):
    """A unit's own error (not one of chatdesk's)."""


def hold(unit: Unit, started: str, gate: str) -> None:
    """Keeps the writer busy: marks ``started``, then waits until ``gate`` exists (files,
    so that a test can drive it whichever process the unit runs in)."""
    Path(started).touch()
    deadline = time.monotonic() + 20
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the gate was never opened")
        time.sleep(0.005)


def read_key(unit: Unit, key: str) -> str | None:
    """``key`` as this unit's transaction sees it (None if absent)."""
    found: str | None = unit.conn.execute(select(meta.c.key).where(meta.c.key == key)).scalar()
    return found


def put_keys(unit: Unit, *keys: str) -> None:
    """Insert each of ``keys`` in turn (the second of two equal keys violates the key)."""
    for key in keys:
        unit.conn.execute(meta.insert().values(key=key, value="v"))


def counted(unit: Unit, key: str, log: str, *, write: bool, fail: bool) -> str:
    """Notes each run of the unit in the file ``log`` (outside any transaction), writes
    ``key`` with ``write`` and raises :class:`Boom` with ``fail``."""
    with open(log, "a") as handle:
        handle.write(key + "\n")
    if write:
        unit.conn.execute(meta.insert().values(key=key, value="v"))
    if fail:
        raise Boom(key)
    return key


def now_of(unit: Unit) -> Any:
    return unit.now


def put_returning_argument(unit: Unit, key: str, argument: list[str]) -> list[str]:
    """Insert ``key``, change the list it was given and return it."""
    unit.conn.execute(meta.insert().values(key=key, value="v"))
    argument.append("changed by the unit")
    return argument
