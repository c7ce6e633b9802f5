"""The data path: whole units of work, one hop each off the event loop.

Writes go to one writer thread that owns the only write connection and
group-commits: it takes every unit queued since its last commit, runs each in
its own SAVEPOINT (a failing unit rolls back alone), commits once, resolves
each caller's future, then reports the newest event id so wake-ups are
published only after the data is durable. Reads run on a small pool of reader
threads with their own connections. On PostgreSQL the batch takes a
transaction-scoped advisory lock first, so event ids become visible in id
order across processes (sequences alone do not commit in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect

from chatdesk.clock import Clock, system_clock
from chatdesk.db.direct import Direct, cursor_of
from chatdesk.db.engine import make_engine

__all__ = ["Database", "Unit"]

T = TypeVar("T")
_log = logging.getLogger("chatdesk.db")
# Arbitrary, fixed key: every chatdesk process appending events takes this lock.
EVENT_APPEND_LOCK = 0x63686174


@dataclass
class Unit:
    """What an action gets: the open transaction, the time, and what to do after commit.

    ``cursor`` is a DBAPI cursor on the same connection and transaction, for
    :class:`chatdesk.db.direct.Direct` statements on the hot path.
    """

    conn: Connection
    now: datetime
    cursor: Any = None
    event_ids: list[int] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    @property
    def dialect(self) -> Dialect:
        return self.conn.dialect

    def run(self, statement: Direct, values: Mapping[str, Any]) -> Any:
        """Execute a :class:`Direct` statement in this unit; returns the DBAPI cursor."""
        return statement.run(self.cursor, self.conn.dialect, values)

    def first(self, statement: Direct, values: Mapping[str, Any]) -> Any:
        """The first row of a :class:`Direct` statement as a plain tuple, or None."""
        return statement.run(self.cursor, self.conn.dialect, values).fetchone()


class _Cancelled(Exception):
    """The caller went away before its unit started; the unit is skipped."""


class _Replay(Exception):
    """A unit failed after writing, in a batch run without SAVEPOINTs: run it again with them."""


@dataclass
class _Job:
    """A queued unit. Callers on an event loop wait on ``waiter`` (an asyncio future
    of ``loop``); other threads wait on ``future``."""

    fn: Callable[[Unit], Any]
    future: Future[Any] | None = None
    waiter: asyncio.Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    started: bool = False

    def start(self) -> bool:
        """Whether the unit should run: False when its caller has already gone away."""
        if self.future is not None:
            if not self.started:  # a replayed unit's future is already running
                self.started = True
                return self.future.set_running_or_notify_cancel()
            return True
        assert self.waiter is not None
        return not self.waiter.cancelled()

    def fail_now(self, exc: BaseException) -> None:
        """Fail a unit that never ran (from the writer thread)."""
        if self.future is not None:
            if not self.future.done():
                self.future.set_exception(exc)
        else:
            assert self.loop is not None
            with contextlib.suppress(RuntimeError):  # that loop closed: nobody waits
                outcome: list[tuple[Any, Any, BaseException | None]] = [(self.waiter, None, exc)]
                self.loop.call_soon_threadsafe(_settle, outcome)


def _settle(outcomes: list[tuple[Any, Any, BaseException | None]]) -> None:
    """On the event loop: resolve the waiters of one committed batch at once."""
    for waiter, value, error in outcomes:
        if waiter.done():  # cancelled meanwhile
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(value)


class Database:
    """Owns the engines, the writer thread and the reader pool."""

    def __init__(
        self,
        url: str,
        *,
        read_threads: int = 4,
        batch_max: int = 256,
        clock: Clock = system_clock,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.clock = clock
        self.batch_max = batch_max
        self.write_engine: Engine = make_engine(url, pool_size=1, writer=True)
        self.read_engine: Engine = make_engine(url, pool_size=read_threads)
        self._read_threads = read_threads
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self.on_commit: Callable[[int], None] | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        if self._writer is not None:
            return
        self._readers = ThreadPoolExecutor(self._read_threads, thread_name_prefix="db-read")
        self._writer = threading.Thread(target=self._run_writer, name="db-write", daemon=True)
        self._writer.start()

    def stop(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=30)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        self.write_engine.dispose()
        self.read_engine.dispose()

    # -- the two hops --------------------------------------------------------------

    async def write(self, fn: Callable[[Unit], T]) -> T:
        """Run ``fn`` as one unit of work in the writer thread; its result once committed.

        The writer wakes the loop once per committed batch, not once per unit.
        """
        assert self._writer is not None, "Database.start() was not called"
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, waiter=waiter, loop=loop))
        return await waiter

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a reader thread inside one read transaction."""
        assert self._readers is not None, "Database.start() was not called"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_sync, fn)

    @property
    def queued(self) -> int:
        """Units waiting for the writer (approximate)."""
        return self._queue.qsize()

    def submit(self, fn: Callable[[Unit], T]) -> Future[T]:
        """Queue a unit of work for the writer; usable from any thread."""
        assert self._writer is not None, "Database.start() was not called"
        future: Future[T] = Future()
        self._queue.put(_Job(fn, future=future))
        return future

    def write_sync(self, fn: Callable[[Unit], T]) -> T:
        """Blocking form of :meth:`write` for the CLI and tests."""
        return self.submit(fn).result()

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        with self.read_engine.connect() as conn, conn.begin():
            return fn(conn)

    # -- the writer thread ---------------------------------------------------------

    def _run_writer(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.batch_max:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Job]) -> None:
        done: list[tuple[_Job, Unit, Any, BaseException | None]] = []
        try:
            try:
                # SQLite: first without SAVEPOINTs (see _run_unit_optimistic).
                self._run_batch(batch, done, savepoints=not self.is_sqlite)
            except _Replay:
                done.clear()
                self._run_batch(batch, done, savepoints=True)
        except Exception as exc:  # the commit itself failed: nothing in the batch happened
            _log.exception("write batch failed")
            for job in batch:
                # Also the units never started (the connection or lock failed first).
                job.fail_now(exc)
            return
        newest = 0
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, BaseException | None]]] = {}
        for job, unit, value, error in done:
            if isinstance(error, _Cancelled):
                continue
            if error is None and unit.event_ids:
                newest = max(newest, max(unit.event_ids))
            if job.loop is not None:
                by_loop.setdefault(job.loop, []).append((job.waiter, value, error))
            elif job.future is not None:
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.set_result(value)
        for loop, outcomes in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop closed: nobody waits
                loop.call_soon_threadsafe(_settle, outcomes)
        for _job, unit, _value, error in done:
            if error is None:
                for hook in unit.after_commit:
                    self._safe(hook)
        if newest and self.on_commit is not None:
            on_commit = self.on_commit
            self._safe(lambda: on_commit(newest))

    def _run_batch(
        self,
        batch: list[_Job],
        done: list[tuple[_Job, Unit, Any, BaseException | None]],
        *,
        savepoints: bool,
    ) -> None:
        """Run every unit of ``batch`` in one transaction and commit it."""
        with self.write_engine.connect() as conn, conn.begin():
            cursor = cursor_of(conn)
            if not self.is_sqlite:
                cursor.execute(f"SELECT pg_advisory_xact_lock({EVENT_APPEND_LOCK})")
            run = self._run_unit if savepoints else self._run_unit_optimistic
            for job in batch:
                done.append(run(conn, cursor, job))
            cursor.close()

    def _run_unit_optimistic(
        self, conn: Connection, cursor: Any, job: _Job
    ) -> tuple[_Job, Unit, Any, BaseException | None]:
        """A unit without a SAVEPOINT (SQLite only), which saves the writer two statements
        per unit. A unit that fails having changed no row (SQLite's ``total_changes``
        counts every row inserted, updated or deleted; a failing statement undoes its
        own changes) fails alone, as with a SAVEPOINT. One that fails after changing
        rows, or that ended the transaction, raises :class:`_Replay`: the batch is
        rolled back and run again, each unit in its own SAVEPOINT."""
        unit = Unit(conn=conn, now=self.clock(), cursor=cursor)
        if not job.start():
            return job, unit, None, _Cancelled()
        driver = cursor.connection
        changes = driver.total_changes
        try:
            value = job.fn(unit)
        except Exception as exc:
            if driver.total_changes != changes or not driver.in_transaction:
                raise _Replay() from exc
            return job, unit, None, exc
        return job, unit, value, None

    def _run_unit(
        self, conn: Connection, cursor: Any, job: _Job
    ) -> tuple[_Job, Unit, Any, BaseException | None]:
        unit = Unit(conn=conn, now=self.clock(), cursor=cursor)
        if not job.start():
            return job, unit, None, _Cancelled()
        # The SAVEPOINT goes straight to the driver: through begin_nested() the pair
        # costs about 70 times as much (see chatdesk.db.direct).
        cursor.execute("SAVEPOINT unit")
        try:
            value = job.fn(unit)
        except Exception as exc:
            cursor.execute("ROLLBACK TO SAVEPOINT unit")
            cursor.execute("RELEASE SAVEPOINT unit")
            return job, unit, None, exc
        cursor.execute("RELEASE SAVEPOINT unit")
        return job, unit, value, None

    @staticmethod
    def _safe(hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:
            _log.exception("after-commit hook failed")
