"""The data path: whole units of work, one hop each off the event loop.

Writes go to one writer that owns the only write connection and group-commits:
it takes every unit queued since its last commit, runs them in one transaction
where a failing unit rolls back alone (:mod:`chatdesk.db.batch`), commits once,
resolves each caller, then reports the newest event id so wake-ups are
published only after the data is durable. On SQLite the writer is a process of
its own by default (:mod:`chatdesk.db.writer_process`), or a thread; on
PostgreSQL it is a thread. Reads run on a small pool of reader threads with
their own connections.

A unit is ``fn(unit, *args, **kwargs)``. For the writer process ``fn`` must be
an importable function with picklable arguments and result; the writer thread
takes any callable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, make_url

from chatdesk.clock import Clock, system_clock
from chatdesk.db.batch import Call, Cancelled, Unit, newest_event, run_batch
from chatdesk.db.engine import make_engine
from chatdesk.db.waiters import Waiter, deliver
from chatdesk.db.writer_process import ProcessWriter

__all__ = ["Database", "Unit"]

T = TypeVar("T")
_log = logging.getLogger("chatdesk.db")
WriterKind = Literal["thread", "process"]


@dataclass(eq=False)
class _Job:
    """A unit queued for the writer thread, and who waits for it."""

    call: Call
    caller: Waiter


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
        self.batch_max = batch_max
        # The writer process is SQLite's (PostgreSQL does its work in its own server), and
        # only for a file: an in-memory database would be the child's alone.
        in_memory = make_url(url).database in (None, "", ":memory:")
        self.writer: WriterKind = writer if self.is_sqlite and not in_memory else "thread"
        self.log_config = log_config
        self.write_engine: Engine = make_engine(url, pool_size=1, writer=True)
        self.read_engine: Engine = make_engine(url, pool_size=read_threads)
        self._read_threads = read_threads
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._process: ProcessWriter | None = None
        self._readers: ThreadPoolExecutor | None = None
        self.on_commit: Callable[[int], None] | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._thread is not None or self._process is not None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the writer and the readers. ``loop``: the server's event loop, when
        called on it; the writer process then does its socket work there."""
        if self.started:
            return
        if self.writer == "process":
            self.write_engine.dispose()  # the child opens its own write connection
            self._process = ProcessWriter(
                self.url,
                batch_max=self.batch_max,
                on_commit=self._committed,
                log_config=self.log_config,
            )
            self._process.start(loop)
        else:
            self._thread = threading.Thread(target=self._run_writer, name="db-write", daemon=True)
            self._thread.start()
        self._readers = ThreadPoolExecutor(self._read_threads, thread_name_prefix="db-read")

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        self.write_engine.dispose()
        self.read_engine.dispose()

    @property
    def writer_alive(self) -> bool:
        """Whether the writer (thread or process) is running."""
        if self._process is not None:
            return self._process.alive
        return self._thread is not None and self._thread.is_alive()

    @property
    def writer_pid(self) -> int | None:
        """The writer process's pid (None with a writer thread)."""
        return self._process.pid if self._process is not None else None

    # -- the two hops --------------------------------------------------------------

    async def write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(unit, *args, **kwargs)`` as one unit of work; its result once committed.

        The writer wakes the loop once per committed batch, not once per unit.
        """
        assert self.started, "Database.start() was not called"
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        if self._process is not None:
            self._process.send_async(loop, waiter, Call(fn, args, kwargs, now=self.clock()))
        else:
            self._queue.put(_Job(Call(fn, args, kwargs), Waiter(waiter=waiter, loop=loop)))
        return await waiter

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a reader thread inside one read transaction."""
        assert self._readers is not None, "Database.start() was not called"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_sync, fn)

    @property
    def queued(self) -> int:
        """Units waiting for the writer (approximate)."""
        if self._process is not None:
            return self._process.queued
        return self._queue.qsize()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue a unit of work for the writer; usable from any thread."""
        assert self.started, "Database.start() was not called"
        future: Future[T] = Future()
        if self._process is not None:
            self._process.send_sync(future, Call(fn, args, kwargs, now=self.clock()))
        else:
            self._queue.put(_Job(Call(fn, args, kwargs), Waiter(future=future)))
        return future

    def write_sync(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Blocking form of :meth:`write` for the CLI and tests."""
        if self._process is not None and self._process.on_home_thread():
            raise RuntimeError("write_sync() on the writer's own event loop would wait forever")
        return self.submit(fn, *args, **kwargs).result()

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        with self.read_engine.connect() as conn, conn.begin():
            return fn(conn)

    def _committed(self, newest: int) -> None:
        on_commit = self.on_commit
        if on_commit is not None:
            self._safe(lambda: on_commit(newest))

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
        calls = []
        for job in batch:
            job.call.wanted = job.caller.wanted
            calls.append(job.call)
        try:
            outcomes = run_batch(
                self.write_engine, calls, is_sqlite=self.is_sqlite, clock=self.clock
            )
        except Exception as exc:  # the transaction itself failed: nothing in the batch happened
            _log.exception("write batch failed")
            # Also the units never started (the connection or lock failed first).
            deliver([(job.caller, None, exc) for job in batch])
            return
        deliver(
            [
                (job.caller, value, error)
                for job, (value, error, _unit) in zip(batch, outcomes, strict=True)
                if not isinstance(error, Cancelled)
            ]
        )
        newest = newest_event(outcomes)
        if newest:
            self._committed(newest)

    @staticmethod
    def _safe(hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:
            _log.exception("after-commit hook failed")
