"""The data path: whole units of work, one hop each off the event loop.

Writes go to one writer that owns the only write connection and group-commits
(the contract, the same for every writer: :mod:`chatdesk.db.writer`). On SQLite
the writer is a process of its own by default (:mod:`chatdesk.db.writer_process`),
or a thread (:mod:`chatdesk.db.writer_thread`); on PostgreSQL it is the thread.
Reads run on a small pool of reader threads with their own connections.

A unit is ``fn(unit, *args, **kwargs)`` with ``fn`` an importable function and
picklable arguments and result, on every writer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, make_url

from chatdesk.clock import Clock, system_clock
from chatdesk.db.batch import Unit
from chatdesk.db.engine import make_engine
from chatdesk.db.outages import Outages, file_problem, outage_cause
from chatdesk.db.packing import pack_unit
from chatdesk.db.waiters import Waiter
from chatdesk.db.writer import Job, Writer, next_job_id
from chatdesk.db.writer_process import ProcessWriter
from chatdesk.db.writer_thread import ThreadWriter
from chatdesk.errors import DatabaseUnavailable

__all__ = ["Database", "Unit"]

T = TypeVar("T")
_log = logging.getLogger("chatdesk.db")
WriterKind = Literal["thread", "process"]


class Database:
    """Owns the engines, the writer (thread or process) and the reader pool."""

    def __init__(
        self,
        url: str,
        *,
        read_threads: int = 4,
        batch_max: int = 256,
        clock: Clock = system_clock,
        writer: WriterKind = "thread",
        log_config: tuple[str, str, bool] | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.clock = clock
        # The writer process is SQLite's (PostgreSQL does its work in its own server), and
        # only for a file: an in-memory database would be the child's alone.
        in_memory = make_url(url).database in (None, "", ":memory:")
        self.writer: WriterKind = writer if self.is_sqlite and not in_memory else "thread"
        self.write_engine: Engine = make_engine(url, pool_size=1, writer=True)
        self.read_engine: Engine = make_engine(url, pool_size=read_threads)
        # SQLite's short reads run on the event loop's thread, on a connection of their own
        # (:meth:`read_here`); PostgreSQL's go to the reader threads like the rest.
        self.here_engine: Engine | None = None
        if self.is_sqlite:
            # A read on the event loop must not wait long for a lock (a reader of a WAL
            # database seldom meets one): past a quarter second it fails as an outage, and
            # is retried. The wait is as short when the connection opens.
            self.here_engine = make_engine(url, pool_size=1, busy_seconds=0.25)
        self._read_threads = read_threads
        self._writer: Writer
        if self.writer == "process":
            self._writer = ProcessWriter(
                url, batch_max=batch_max, on_commit=self._committed, log_config=log_config
            )
        else:
            self._writer = ThreadWriter(
                self.write_engine, batch_max=batch_max, on_commit=self._committed
            )
        self._readers: ThreadPoolExecutor | None = None
        self._home: asyncio.AbstractEventLoop | None = None  # the loop given to start()
        self._home_thread: int | None = None
        self.on_commit: Callable[[int], None] | None = None
        self.outages = Outages()

    # -- lifecycle -----------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._readers is not None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the writer and the readers. ``loop``: the server's event loop, when
        called on it; the writer process then does its socket work there."""
        if self.started:
            return
        if self.writer == "process":
            self.write_engine.dispose()  # the child opens its own write connection
        self._home, self._home_thread = loop, threading.get_ident() if loop is not None else None
        self._writer.start(loop)
        self._readers = ThreadPoolExecutor(self._read_threads, thread_name_prefix="db-read")

    def stop(self, timeout: float = 30) -> None:
        """Answer every unit queued, then stop; not on the loop given to ``start()``
        (a blocking wait there would never end): use :meth:`aclose` there."""
        if self._on_home_thread():
            raise RuntimeError("Database.stop() on the writer's own event loop; use aclose()")
        self._writer.stop(timeout)
        self._stopped()

    async def aclose(self, timeout: float = 30) -> None:
        """:meth:`stop` from an event loop, the one given to ``start()`` included."""
        await self._writer.aclose(timeout)
        self._stopped()

    def _stopped(self) -> None:
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        self._home = self._home_thread = None
        self.write_engine.dispose()
        self.read_engine.dispose()
        if self.here_engine is not None:
            self.here_engine.dispose()

    def _on_home_thread(self) -> bool:
        """Whether this is the thread of the loop given to ``start()``, and it runs."""
        home = self._home
        return home is not None and threading.get_ident() == self._home_thread and home.is_running()

    @property
    def writer_alive(self) -> bool:
        """Whether the writer (thread or process) is running."""
        return self._writer.alive

    @property
    def file_path(self) -> str | None:
        """The SQLite database's file (None on PostgreSQL or in memory)."""
        database = make_url(self.url).database
        if not self.is_sqlite or database in (None, "", ":memory:"):
            return None
        return database

    def storage_problem(self, min_free_bytes: int) -> str | None:
        """Why writes would fail now on SQLite, seen without writing (see
        :func:`chatdesk.db.outages.file_problem`); None on PostgreSQL."""
        path = self.file_path
        return None if path is None else file_problem(path, min_free_bytes)

    @property
    def writer_pid(self) -> int | None:
        """The writer process's pid (None with a writer thread)."""
        return self._writer.pid

    # -- the two hops --------------------------------------------------------------

    async def write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(unit, *args, **kwargs)`` as one unit of work; its result once committed.

        Cancelling the caller withdraws the unit if the writer has not taken it yet.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        job = Job(
            next_job_id(), pack_unit(fn, args, kwargs, self.clock()), Waiter(None, waiter, loop)
        )
        self._writer.send(job)
        try:
            result = await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                self._writer.withdraw(job)
            raise
        except Exception as exc:
            unavailable = self._unavailable(exc, writing=True)
            if unavailable is None:
                raise
            raise unavailable from exc
        if self.outages.write_failing is not None:
            self.outages.wrote()
        return result

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a reader thread inside one read transaction."""
        assert self._readers is not None, "Database.start() was not called"
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, self.read_sync, fn)
        except Exception as exc:
            unavailable = self._unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc

    async def read_here(self, fn: Callable[[Connection], T]) -> T:
        """:meth:`read` for a read of a few index lookups that runs often: the event log's
        reads for delivery. On SQLite it runs at once on the calling thread (the event
        loop's), on a connection only that thread uses: the hop to a reader thread and
        back costs more than such a read (two thread wake-ups, each a handover of the
        GIL), and the hub makes one per commit. Elsewhere it is :meth:`read`."""
        engine = self.here_engine
        if engine is None:
            return await self.read(fn)
        try:
            with engine.connect() as conn, conn.begin():
                return fn(conn)
        except Exception as exc:
            unavailable = self._unavailable(exc)
            if unavailable is None:
                raise
            raise unavailable from exc

    def _unavailable(self, exc: Exception, *, writing: bool = False) -> DatabaseUnavailable | None:
        """``exc`` as :class:`DatabaseUnavailable` when it is an outage (noted in
        :attr:`outages`), else None."""
        cause = outage_cause(exc)
        if cause is None:
            return None
        self.outages.met(cause, exc, writing=writing)
        return DatabaseUnavailable(cause)

    @property
    def queued(self) -> int:
        """Units waiting for the writer (approximate)."""
        return self._writer.queued

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue a unit of work from any thread; cancelling the future withdraws it if
        the writer has not taken it yet."""
        future: Future[T] = Future()
        job = Job(next_job_id(), pack_unit(fn, args, kwargs, self.clock()), Waiter(future))
        writer = self._writer

        def withdraw(done: Future[T]) -> None:
            if done.cancelled():
                writer.withdraw(job)

        future.add_done_callback(withdraw)
        writer.send(job)
        return future

    def write_sync(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Blocking form of :meth:`write` for the CLI and tests; refused on the loop
        given to ``start()``, where it would wait forever."""
        if self._on_home_thread():
            raise RuntimeError("write_sync() on the writer's own event loop would wait forever")
        return self.submit(fn, *args, **kwargs).result()

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        with self.read_engine.connect() as conn, conn.begin():
            return fn(conn)

    def _committed(self, newest: int) -> None:
        on_commit = self.on_commit
        if on_commit is not None:
            try:
                on_commit(newest)
            except Exception:
                _log.exception("after-commit hook failed")
