"""SQLite's writer in a process of its own (ADRs 0006-0008): the server's side.

The server's event loop and a writer thread would share one interpreter lock
and take turns on one core; a child process (:mod:`chatdesk.db.writer_child`)
owns the write connection instead, so handling requests and writing use two.
:class:`ProcessWriter` keeps the contract of :mod:`chatdesk.db.writer`.

One event loop owns everything here, the *home loop*: the server's loop, given
to ``start()``, or else a loop this writer runs on a thread of its own (the
CLI, tests). The current child is a :class:`chatdesk.db.writer_pipe.ChildPipe`
on it. Units queued on the home loop go straight to the pipe; units from any
other thread are handed to the home loop with ``call_soon_threadsafe``. That
hand-over and the open/closed state are the only things other threads touch,
under one lock, so that every unit accepted before ``stop()`` reaches the loop
before stop's own step does.

A dead child (its socket closes without being asked to stop) is handled in one
way: the callers it had not answered get :class:`WriterUnavailable` (HTTP 503;
a message retried with the same ``client_msg_id`` is stored once), units
queued until a new child is started get it at once, and a new child is
started on the home loop after :data:`RESPAWN_DELAYS` (longer if it keeps
dying). A new child reads what it was sent as soon as it is up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from chatdesk.db.waiters import unavailable
from chatdesk.db.writer import Job
from chatdesk.db.writer_pipe import ChildPipe, start_child

__all__ = ["RESPAWN_DELAYS", "ProcessWriter", "absolute_sqlite_url"]

_log = logging.getLogger("chatdesk.db")
RESPAWN_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0)


class ProcessWriter:
    """A :class:`chatdesk.db.writer.Writer` whose child process writes; see the module."""

    def __init__(
        self,
        url: str,
        *,
        batch_max: int,
        on_commit: Callable[[int], None],
        log_config: tuple[str, str, bool] | None = None,
    ) -> None:
        self.url = absolute_sqlite_url(url)
        self.batch_max = batch_max
        self.log_config = log_config
        self._on_commit = on_commit
        self._lock = threading.Lock()
        self._open = False  # units accepted, dead children replaced; changed under the lock
        self._home: asyncio.AbstractEventLoop | None = None
        self._home_thread: int | None = None
        self._own_thread: threading.Thread | None = None  # runs the home loop when it is ours
        # On the home loop only:
        self._pipe: ChildPipe | None = None
        self._failures = 0  # children that died in a row
        self._respawn: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- from any thread -------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if self._home is not None:
            return
        if loop is None:
            loop = asyncio.new_event_loop()
            self._own_thread = threading.Thread(
                target=loop.run_forever, name="db-write-io", daemon=True
            )
            self._own_thread.start()
            self._home_thread = self._own_thread.ident
        else:
            self._home_thread = threading.get_ident()
        self._home = loop
        self._failures = 0
        with self._lock:
            self._open = True
        if self._on_home_thread():
            self._spawn()
        else:  # returns with the child started, as on the home loop
            asyncio.run_coroutine_threadsafe(self._spawn_soon(), loop).result()

    def stop(self, timeout: float = 30) -> None:
        home = self._home
        if home is None:
            return
        if self._on_home_thread() and home.is_running():
            raise RuntimeError("stop() on the writer's own event loop would wait forever")
        with self._lock:
            self._open = False
        begun = threading.Event()
        if home.is_running():
            closing = asyncio.run_coroutine_threadsafe(self._close(timeout, begun), home)
            if begun.wait(timeout):
                closing.result()  # bounded: _close kills a child that takes too long
            else:  # the home loop does not answer: end the child from here
                closing.cancel()
                self._abandon()
        else:
            self._abandon()
        if self._own_thread is not None:
            home.call_soon_threadsafe(home.stop)
            self._own_thread.join(timeout)
            home.close()
            self._own_thread = None
        self._home = self._home_thread = None

    async def aclose(self, timeout: float = 30) -> None:
        if not self._on_home_thread():
            await asyncio.to_thread(self.stop, timeout)
            return
        with self._lock:
            self._open = False
        await self._close(timeout, threading.Event())
        self._home = self._home_thread = None

    def send(self, job: Job) -> None:
        if self._on_home_thread():
            if self._open:
                self._queue(job)
                return
        else:
            with self._lock:
                home = self._home
                if self._open and home is not None and not home.is_closed():
                    home.call_soon_threadsafe(self._queue, job)
                    return
        unavailable([job.caller])

    def withdraw(self, job: Job) -> None:
        home = self._home
        if self._on_home_thread():
            self._withdraw(job)
        elif home is not None and not home.is_closed():
            home.call_soon_threadsafe(self._withdraw, job)

    @property
    def alive(self) -> bool:
        pipe = self._pipe
        return self._open and pipe is not None and pipe.process.poll() is None

    @property
    def pid(self) -> int | None:
        pipe = self._pipe
        return pipe.process.pid if pipe is not None else None

    @property
    def queued(self) -> int:
        pipe = self._pipe
        return len(pipe.waiting) if pipe is not None else 0

    def _on_home_thread(self) -> bool:
        return threading.get_ident() == self._home_thread

    def _abandon(self) -> None:
        """From another thread, when the home loop cannot stop the child: kill it. Its
        callers get WriterUnavailable from the loop when it runs again, or from here."""
        pipe = self._pipe
        if pipe is None:
            return
        pipe.process.kill()
        pipe.process.wait(5)
        home = self._home
        if home is None or not home.is_running():  # nothing else will ever answer them
            self._pipe = None
            lost, pipe.waiting = list(pipe.waiting.values()), {}
            unavailable(lost)

    # -- on the home loop --------------------------------------------------------------

    def _queue(self, job: Job) -> None:
        pipe = self._pipe
        if pipe is None:  # between a dead child and its replacement
            unavailable([job.caller])
        else:
            pipe.queue(job)

    def _withdraw(self, job: Job) -> None:
        pipe = self._pipe
        if pipe is not None:
            pipe.withdraw(job.job_id)

    def _answered(self, newest: int) -> None:
        self._failures = 0
        if newest:
            self._on_commit(newest)

    async def _spawn_soon(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        """Start a child; units sent to it wait in its pipe until it is up."""
        self._respawn = None
        if not self._open:
            return
        home = self._home
        assert home is not None
        try:
            process, sock = start_child(self.url, self.batch_max, self.log_config)
        except Exception:  # e.g. out of processes or memory: try again, later
            _log.exception("could not start a writer process")
            self._schedule_spawn()
            return
        pipe = ChildPipe(process, home, answered=self._answered, ended=self._ended)
        self._pipe = pipe
        _keep(self._tasks, home.create_task(pipe.connect(sock)))

    def _ended(self, pipe: ChildPipe) -> None:
        """``pipe``'s child closed its socket: stopped, or dead (then start another)."""
        _keep(self._tasks, pipe.loop.create_task(pipe.reap(5)))
        if self._pipe is not pipe:
            return
        self._pipe = None
        if self._open:
            _log.error("writer process %s ended unexpectedly", pipe.process.pid)
            self._schedule_spawn()

    def _schedule_spawn(self) -> None:
        assert self._home is not None
        delay = RESPAWN_DELAYS[min(self._failures, len(RESPAWN_DELAYS) - 1)]
        self._failures += 1
        self._respawn = self._home.call_later(delay, self._spawn)

    async def _close(self, timeout: float, begun: threading.Event) -> None:
        """Send the rest and the stop message; the child answers everything and exits."""
        begun.set()
        if self._respawn is not None:
            self._respawn.cancel()
            self._respawn = None
        pipe = self._pipe
        if pipe is not None:
            pipe.stop()
            try:
                await asyncio.wait_for(asyncio.shield(pipe.closed), timeout)
            except TimeoutError:
                _log.error("the writer process did not answer within %s s; killing it", timeout)
                pipe.process.kill()
                await pipe.closed
            await pipe.reap(timeout)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _keep(tasks: set[asyncio.Task[Any]], task: asyncio.Task[Any]) -> None:
    """Hold a reference to ``task`` until it is done (the loop only keeps a weak one)."""
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def absolute_sqlite_url(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so that the child opens the
    same file whatever directory it runs in."""
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or os.path.isabs(database):
        return url
    return parsed.set(database=os.path.abspath(database)).render_as_string(hide_password=False)
