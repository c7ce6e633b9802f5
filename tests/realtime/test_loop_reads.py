"""SQLite's delivery reads run on the event loop (ADR 0014): a lock must not stall it.

A reader of a WAL database seldom meets a lock, but one does when another program holds
the file in exclusive locking mode; the read then fails as ``busy`` after a quarter
second (the hub's next poll retries it) instead of holding the loop for the 30 s the
other connections wait. That includes the statements the connection makes as it opens.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection

from chatdesk.db.runner import Database
from chatdesk.errors import DatabaseUnavailable
from tests.event_loops import run_coroutine


def count(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "locked.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.execute("INSERT INTO t VALUES (1)")
    setup.close()
    return path


@pytest.fixture
def holder(path: Path) -> Iterator[sqlite3.Connection]:
    """Another program's connection holding the file in exclusive locking mode, with a
    write of its own under way."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("INSERT INTO t VALUES (2)")
    yield conn
    conn.close()


def test_a_loop_read_that_meets_a_lock_fails_as_busy_within_a_quarter_second(
    path: Path, holder: sqlite3.Connection
) -> None:
    db = Database(f"sqlite:///{path}")

    async def scenario() -> tuple[str, float, int]:
        db.start(asyncio.get_running_loop())
        try:
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as failed:
                await db.read_here(count)
            waited = time.monotonic() - started
            holder.execute("COMMIT")
            holder.close()  # gives the exclusive lock up
            return failed.value.cause, waited, await db.read_here(count)
        finally:
            await db.aclose()

    cause, waited, after = run_coroutine(scenario)
    assert cause == "busy"
    assert 0.2 <= waited < 2, waited
    assert after == 2  # the same database reads again once the lock is gone


def test_reads_off_the_loop_keep_their_long_wait(path: Path, holder: sqlite3.Connection) -> None:
    """Only the loop's reads wait briefly: a reader thread's read outlasts a short lock."""
    db = Database(f"sqlite:///{path}")

    async def scenario() -> int:
        db.start(asyncio.get_running_loop())
        try:
            loop = asyncio.get_running_loop()
            loop.call_later(0.6, holder.close)  # ends the lock past the loop reads' wait
            return await db.read(count)
        finally:
            await db.aclose()

    assert run_coroutine(scenario) == 1  # the holder's write was never committed
