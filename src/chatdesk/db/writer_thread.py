"""The writer thread: PostgreSQL's writer, and SQLite's with ``CHATDESK_SQLITE_WRITER=thread``.

One thread owns the write connection and runs the batches of the contract in
:mod:`chatdesk.db.writer` with the same function as the writer process's child
(:func:`chatdesk.db.packing.run_packed`), so units travel packed here too. On
PostgreSQL the thread mostly waits on the network, so it costs the event loop
little; on SQLite it shares the interpreter lock with the event loop, which is
why SQLite's default is the writer process (ADR 0006).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from chatdesk.db.checkpoints import Checkpointer, without_autocheckpoint
from chatdesk.db.packing import run_packed, unpack_answer
from chatdesk.db.waiters import deliver, unavailable
from chatdesk.db.writer import Job

__all__ = ["ThreadWriter"]

_log = logging.getLogger("chatdesk.db")


class ThreadWriter:
    """A :class:`chatdesk.db.writer.Writer` on a thread of this process."""

    def __init__(self, engine: Engine, *, batch_max: int, on_commit: Callable[[int], None]) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.batch_max = batch_max
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._checkpointer: Checkpointer | None = None
        # Held while queueing: stop() puts its end mark after every unit it accepted.
        self._lock = threading.Lock()
        self._open = False

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if self._thread is not None:
            return
        checkpointer = Checkpointer(self.engine.url.render_as_string(False))
        if self.is_sqlite and checkpointer.path:  # a file (an in-memory database has no WAL)
            without_autocheckpoint(self.engine)
            self.engine.dispose()  # connections opened before (migrations) checkpoint by themselves
            checkpointer.start()
            self._checkpointer = checkpointer
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="db-write", daemon=True)
        self._thread.start()
        with self._lock:
            self._open = True

    def stop(self, timeout: float = 30) -> None:
        with self._lock:
            self._open = False
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                _log.error("the writer thread did not finish its units within %s s", timeout)
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None

    async def aclose(self, timeout: float = 30) -> None:
        # On a thread, so that this loop's callers can be answered meanwhile.
        await asyncio.to_thread(self.stop, timeout)

    def send(self, job: Job) -> None:
        with self._lock:
            if self._open:
                self._queue.put(job)
                return
        unavailable([job.caller])

    def withdraw(self, job: Job) -> None:
        """Nothing to do: the thread sees the cancelled caller when it takes the unit."""

    @property
    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def pid(self) -> int | None:
        return None

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        jobs = self._queue
        while True:
            job = jobs.get()
            if job is None:
                return
            batch: list[Job] = []
            while job is not None:
                if not job.caller.cancelled():
                    batch.append(job)
                if len(batch) >= self.batch_max:
                    break
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            if job is None:  # the end mark, taken with the batch's last units
                return

    def _write(self, batch: list[Job]) -> None:
        try:
            answers, newest = run_packed(
                self.engine, [(job.job_id, job.payload) for job in batch], is_sqlite=self.is_sqlite
            )
        except Exception as exc:  # a bug in the writer itself: its callers must still hear
            _log.exception("the writer failed a batch")
            deliver([(job.caller, None, exc) for job in batch])
            return
        if newest:  # the wake-up goes out before the callers' own responses
            self._on_commit(newest)
        callers = {job.job_id: job.caller for job in batch}
        deliver(
            [
                (callers[job_id], *unpack_answer(failed, packed))
                for job_id, failed, packed in answers
            ]
        )
