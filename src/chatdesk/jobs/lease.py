"""Units of the scheduler (jobs/scheduler.py): its lease in the database, and its tick.

The lease is one ``meta`` row, ``lease:<name>`` = ``"<holder> <expiry>"``, taken or
renewed with a compare-and-set UPDATE, so two processes never both believe they hold
it. The lease spares the other processes the work; correctness does not rest on it:
every timed job is a conditional change, idempotent when two processes run it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatdesk.clock import aware
from chatdesk.db.batch import Unit
from chatdesk.db.tables import meta

__all__ = ["Tick", "TimedWork", "chore", "lease_expiry", "take_lease", "tick"]

# A unit of timed work (``actions.snooze.wake_due``): it does what is due and returns
# (what it did, when the next is due). Handed in by the app: jobs do not import actions.
TimedWork = Callable[[Unit], tuple[list[Any], datetime | None]]


def take_lease(unit: Unit, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease ``name`` for ``holder``; whether it holds it now."""
    key = f"lease:{name}"
    value = f"{holder} {(unit.now + timedelta(seconds=seconds)).isoformat()}"
    current = unit.conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
    if current is None:
        try:
            with unit.conn.begin_nested():
                unit.conn.execute(insert(meta).values(key=key, value=value))
        except IntegrityError:  # another process took it first
            return False
        return True
    owner, _, until = current.partition(" ")
    if owner != holder and aware(datetime.fromisoformat(until)) > unit.now:
        return False
    taken = unit.conn.execute(
        update(meta).where(meta.c.key == key, meta.c.value == current).values(value=value)
    )
    return taken.rowcount == 1


def lease_expiry(conn: Connection, name: str) -> datetime | None:
    """When the lease ``name`` runs out (None: nobody ever took it); a read, no write."""
    current = conn.execute(select(meta.c.value).where(meta.c.key == f"lease:{name}")).scalar()
    if current is None:
        return None
    return aware(datetime.fromisoformat(current.partition(" ")[2]))


class Tick(NamedTuple):
    """What one scheduler tick did: whether it held the lease (and until when), what it
    woke, and when the next snooze is due."""

    held: bool
    woken: int
    next_due: datetime | None
    until: datetime | None = None


def tick(unit: Unit, holder: str, lease_seconds: float, work: TimedWork) -> Tick:
    """One scheduler step: hold the lease, then do the timed ``work`` that is due."""
    if not take_lease(unit, "scheduler", holder, lease_seconds):
        return Tick(False, 0, None)
    done, next_due = work(unit)
    until = unit.now + timedelta(seconds=lease_seconds)
    return Tick(True, len(done), next_due, until)


def chore(
    unit: Unit, holder: str, lease_seconds: float, work: Callable[..., Any], *args: Any
) -> Any:
    """A periodic chore (retention) on the lease's holder only: ``work(unit, *args)``'s
    result, or None when ``holder`` does not hold the lease (checked in the same unit)."""
    if not take_lease(unit, "scheduler", holder, lease_seconds):
        return None
    return work(unit, *args)
