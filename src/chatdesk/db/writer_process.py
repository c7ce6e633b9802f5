"""SQLite's writer in a process of its own (ADR 0006).

The server's event loop and a writer thread share one interpreter lock: under
load they take turns instead of using both cores. Here the writer is a child
process that owns the only write connection and group-commits exactly as the
writer thread does (:func:`chatdesk.db.batch.run_batch`), while the server
process only parses requests and sends it units of work.

A unit crosses as ``(fn, args, kwargs)`` pickled, so ``fn`` must be an
importable function (an action such as ``send_message``), not a lambda; its
result (pickled inside its transaction: a result that cannot travel fails the
unit, which then rolls back) and errors come back pickled. The unit's time is
fixed by the caller's clock when it is sent. Units sent from one event loop in
one turn of that loop go in one message, which a sender thread writes to the
child (the event loop never blocks on the socket); the child takes every
message waiting before each batch, and a reader thread wakes the callers.

If the child dies, the units it had not answered fail with
:class:`WriterUnavailable` (HTTP 503; a message retried with the same
``client_msg_id`` is still stored once) and a new child starts. A unit whose
async caller was cancelled still runs (the writer thread skips those).

The child also owns WAL checkpoints: the write connection never checkpoints
(a checkpoint's fsync would stall every commit behind it); a thread with its
own connection runs passive checkpoints in the background and a blocking one
only if the WAL outgrows :data:`WAL_LIMIT_FRAMES`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.util  # registers its exit hook before ours (see start)
import os
import pickle
import queue
import signal
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from chatdesk.clock import aware, system_clock
from chatdesk.db.batch import Call, newest_event, run_batch
from chatdesk.db.engine import make_engine
from chatdesk.db.waiters import Waiter, deliver
from chatdesk.errors import ChatdeskError, WriterUnavailable

__all__ = ["ProcessWriter", "WriterUnavailable"]

_log = logging.getLogger("chatdesk.db")
# Pickles travel only between the server and its own writer process, over a socket
# pair that nothing else holds: nothing unpickled here comes from outside.
_PROTOCOL = pickle.HIGHEST_PROTOCOL
CHECKPOINT_SECONDS = 0.25
WAL_LIMIT_FRAMES = 50_000  # about 200 MB of 4 KiB pages
RESPAWN_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0)
# Modules the forkserver imports once, so each child starts with them loaded.
PRELOAD = [
    "chatdesk.db.writer_process",
    "chatdesk.actions.auth",
    "chatdesk.actions.conversations",
    "chatdesk.actions.events",
    "chatdesk.actions.messages",
    "chatdesk.actions.operators",
    "chatdesk.actions.sites",
    "chatdesk.actions.visitors",
]


@dataclass(eq=False)
class _Child:
    """One writer process, its socket, and the callers still waiting on it."""

    process: Any
    conn: Connection
    waiting: dict[int, Waiter] = field(default_factory=dict)
    reader: threading.Thread | None = None  # reads the child's answers


# What the sender thread takes: a child's message (payloads, callers), or None to stop.
_Outgoing = tuple[list[tuple[int, bytes]], list[tuple[int, Waiter]]]


class ProcessWriter:
    """The server side: sends units to the child, wakes callers with its answers."""

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
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # the current child, its waiting table, _closing
        # Per event loop, the units of its current turn: (payloads, callers).
        self._turns: dict[asyncio.AbstractEventLoop, _Outgoing] = {}
        self._outgoing: queue.SimpleQueue[_Outgoing | None] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None
        self._sending = False  # False: units are refused at once (not started, or stopped)
        self._child: _Child | None = None
        self._closing = False
        self._failures = 0

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the child, and the threads that write to it and read its answers."""
        with self._lock:
            self._closing = False
        child = self._spawn()
        self._sender = threading.Thread(target=self._send_loop, name="db-write-send", daemon=True)
        self._sender.start()
        with self._lock:
            self._child = child
            self._sending = True
        # Registered after multiprocessing's own exit hook, so it runs first: the child
        # ignores SIGTERM and must be told to stop before multiprocessing joins it.
        atexit.register(self.stop, 5)

    def stop(self, timeout: float = 30) -> None:
        """Let the child finish and answer what it was sent, then end it."""
        atexit.unregister(self.stop)
        with self._lock:
            if self._sending:
                self._sending = False
                self._outgoing.put(None)  # after everything queued before it
        if self._sender is not None:
            self._sender.join(timeout)
            self._sender = None
        with self._lock:
            self._closing = True
            child, self._child = self._child, None
        if child is not None:
            self._end(child, timeout)

    def _end(self, child: _Child, timeout: float) -> None:
        with contextlib.suppress(OSError):
            child.conn.send_bytes(b"")  # the stop message
        child.process.join(timeout)
        if child.process.is_alive():
            child.process.kill()
            child.process.join(5)
        if child.reader is not None:  # it reads every answer, up to the end of the stream
            child.reader.join(timeout)
        child.conn.close()
        self._fail(child)

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.process.pid if child is not None else None

    @property
    def alive(self) -> bool:
        child = self._child
        return child is not None and child.process.is_alive()

    @property
    def queued(self) -> int:
        child = self._child
        return len(child.waiting) if child is not None else 0

    def _spawn(self) -> _Child:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=serve,
            args=(self.url, self.batch_max, child_end, self.log_config),
            name="chatdesk-writer",
            daemon=True,
        )
        process.start()
        child_end.close()
        child = _Child(process, parent_end)
        child.reader = threading.Thread(
            target=self._receive, args=(child,), name="db-write-answers", daemon=True
        )
        child.reader.start()
        return child

    # -- sending -------------------------------------------------------------------

    def send_async(
        self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[Any], call: Call
    ) -> None:
        """Queue ``call`` from ``loop``'s thread; it leaves with this turn's other units."""
        job_id = next(self._ids)
        payload = _pack(job_id, call)
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = ([], [])
            loop.call_soon(self._flush, loop)
        turn[0].append(payload)
        turn[1].append((job_id, Waiter(waiter=waiter, loop=loop)))

    def send_sync(self, future: Any, call: Call) -> None:
        """Queue ``call`` from any thread; ``future`` gets its outcome."""
        job_id = next(self._ids)
        payload = _pack(job_id, call)
        if future.set_running_or_notify_cancel():
            self._enqueue(([payload], [(job_id, Waiter(future=future, started=True))]))

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._enqueue(self._turns.pop(loop))

    def _enqueue(self, item: _Outgoing) -> None:
        with self._lock:
            if self._sending:
                self._outgoing.put(item)
                return
        deliver([(caller, None, WriterUnavailable()) for _, caller in item[1]])

    def _send_loop(self) -> None:
        """The sender thread: writes what is queued to the current child, everything
        waiting at once in one message. A full socket (a busy child) holds this thread
        back, never the event loop."""
        stop = False
        while not stop:
            item = self._outgoing.get()
            if item is None:
                return
            payloads, callers = list(item[0]), list(item[1])
            while True:
                try:
                    more = self._outgoing.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                payloads += more[0]
                callers += more[1]
            try:
                self._send(payloads, callers)
            except Exception as exc:  # never leave callers waiting on a dead sender
                _log.exception("could not send units to the writer process")
                with self._lock:
                    if self._child is not None:
                        for job_id, _caller in callers:
                            self._child.waiting.pop(job_id, None)
                deliver([(caller, None, exc) for _, caller in callers])

    def _send(self, payloads: list[tuple[int, bytes]], callers: list[tuple[int, Waiter]]) -> None:
        with self._lock:
            child = self._child
            if child is not None:
                child.waiting.update(callers)
        if child is None:
            deliver([(caller, None, WriterUnavailable()) for _, caller in callers])
            return
        try:
            child.conn.send_bytes(pickle.dumps(payloads, _PROTOCOL))
        except (OSError, ValueError):  # that child is gone: its callers fail here
            with self._lock:
                lost = [child.waiting.pop(job_id, None) for job_id, _ in callers]
            deliver([(c, None, WriterUnavailable()) for c in lost if c is not None])

    # -- answers -------------------------------------------------------------------

    def _receive(self, child: _Child) -> None:
        """The reader thread: handle answers until the child's stream ends."""
        try:
            while True:
                try:
                    data = child.conn.recv_bytes()
                except (EOFError, OSError):
                    break
                try:
                    self._answer(child, data)
                except Exception:  # never leave callers waiting on a dead reader
                    _log.exception("could not handle the writer's answers")
        finally:
            self._ended(child)

    def _answer(self, child: _Child, data: bytes) -> None:
        answers, newest = pickle.loads(data)  # noqa: S301 (see _PROTOCOL)
        results = []
        with self._lock:
            for job_id, packed in answers:
                caller = child.waiting.pop(job_id, None)
                if caller is not None:
                    results.append((caller, *_unpack_answer(packed)))
        deliver(results)
        self._failures = 0
        if newest:
            self._on_commit(newest)

    def _ended(self, child: _Child) -> None:
        """The child's stream ended: unless it was stopped, it died; replace it."""
        with self._lock:
            if self._closing or self._child is not child:
                return
        child.process.join(1)
        _log.error(
            "writer process %s ended unexpectedly (exit code %s)",
            child.process.pid,
            child.process.exitcode,
        )
        self._fail(child)
        delay = RESPAWN_DELAYS[min(self._failures, len(RESPAWN_DELAYS) - 1)]
        self._failures += 1
        threading.Thread(target=self._respawn, args=(child, delay), daemon=True).start()

    def _respawn(self, dead: _Child, delay: float) -> None:
        time.sleep(delay)
        with self._lock:
            if self._closing or self._child is not dead:
                return
        fresh: _Child | None = self._spawn()  # outside the lock: sends fail fast meanwhile
        with self._lock:
            if not self._closing and self._child is dead:
                self._child, fresh = fresh, None
        dead.conn.close()
        dead.process.join(5)
        if fresh is not None:  # stopped meanwhile
            self._end(fresh, 5)
        else:
            _log.warning("writer process %s started", self.pid)

    def _fail(self, child: _Child) -> None:
        with self._lock:
            lost = list(child.waiting.values())
            child.waiting.clear()
        deliver([(caller, None, WriterUnavailable()) for caller in lost])


def absolute_sqlite_url(url: str) -> str:
    """``url`` with a relative SQLite path made absolute, so the child (forked from a
    forkserver that may have started elsewhere) opens the same file."""
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or os.path.isabs(database):
        return url
    return parsed.set(database=os.path.abspath(database)).render_as_string(hide_password=False)


def _pack(job_id: int, call: Call) -> tuple[int, bytes]:
    # The time travels naive (UTC): an aware datetime takes several times longer to pickle.
    assert call.now is not None
    now = aware(call.now).replace(tzinfo=None)
    try:
        return job_id, pickle.dumps((now, call.fn, call.args, call.kwargs), _PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(
            f"a unit for the writer process must be an importable function with picklable "
            f"arguments, not {call.fn!r}: {exc}"
        ) from exc


def _unpack_answer(packed: bytes) -> tuple[Any, BaseException | None]:
    try:
        result, error, trace = pickle.loads(packed)  # noqa: S301 (see _PROTOCOL)
        value = pickle.loads(result) if error is None else None  # noqa: S301
    except Exception as exc:  # a class the server cannot rebuild
        return None, RuntimeError(f"the writer's answer could not be read: {exc!r}")
    if error is not None and trace:
        # The server logs the error; its traceback only existed in the writer process.
        error.add_note(trace)
    return value, error


# -- the child -----------------------------------------------------------------------


def serve(
    url: str, batch_max: int, conn: Connection, log_config: tuple[str, str, bool] | None
) -> None:
    """The writer process: run batches until the server says stop or goes away."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group; the server
    # stops this process itself once its requests are answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if log_config is not None:
        from chatdesk.logs import configure_logging

        configure_logging(*log_config)
    engine = make_engine(url, pool_size=1, writer=True)

    @event.listens_for(engine, "connect")
    def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    checkpointer = _Checkpointer(url)
    checkpointer.start()
    try:
        _serve(engine, batch_max, conn)
    finally:
        checkpointer.stop()
        engine.dispose()


def _serve(engine: Any, batch_max: int, conn: Connection) -> None:
    while True:
        try:
            data = conn.recv_bytes()
            messages = [data]
            while data and conn.poll():
                data = conn.recv_bytes()
                messages.append(data)
        except (EOFError, OSError):
            return
        stop = not all(messages)  # b"" is the server's stop message
        payloads = [p for message in messages if message for p in pickle.loads(message)]  # noqa: S301
        for start in range(0, len(payloads), batch_max):
            answers, newest = _run_payloads(engine, payloads[start : start + batch_max])
            try:
                conn.send_bytes(pickle.dumps((answers, newest), _PROTOCOL))
            except OSError:
                return
        if stop:
            return


def _pickled_result(unit: Any, fn: Callable[..., Any], args: Any, kwargs: Any) -> bytes:
    """Run the unit and pickle its result inside its transaction: a result that cannot
    travel to the server fails the unit (rolled back), never a committed unit."""
    return pickle.dumps(fn(unit, *args, **kwargs), _PROTOCOL)


def _run_payloads(
    engine: Any, payloads: list[tuple[int, bytes]]
) -> tuple[list[tuple[int, bytes]], int]:
    answers: list[tuple[int, bytes]] = []
    ids: list[int] = []
    calls: list[Call] = []
    for job_id, payload in payloads:
        try:
            now, fn, args, kwargs = pickle.loads(payload)  # noqa: S301 (see _PROTOCOL)
        except Exception as exc:  # a unit this process cannot import
            problem = RuntimeError(f"unit not readable: {exc!r}")
            answers.append((job_id, _pack_answer(None, problem)))
            continue
        ids.append(job_id)
        calls.append(Call(_pickled_result, (fn, args, kwargs), now=now.replace(tzinfo=UTC)))
    if not calls:
        return answers, 0
    try:
        outcomes = run_batch(engine, calls, is_sqlite=True, clock=system_clock)
    except Exception as exc:  # the transaction itself failed: nothing in the batch happened
        _log.exception("write batch failed")
        packed = _pack_answer(None, exc)  # once: every caller gets the same error
        answers.extend((job_id, packed) for job_id in ids)
        return answers, 0
    for job_id, (result, error, _unit) in zip(ids, outcomes, strict=True):
        answers.append((job_id, _pack_answer(result, error)))
    return answers, newest_event(outcomes)


def _pack_answer(result: bytes | None, error: BaseException | None) -> bytes:
    """(result, error, traceback text): an unexpected error's traceback travels beside
    it, since pickling keeps no traceback (and some exceptions keep no notes)."""
    trace = None
    if error is not None and not isinstance(error, ChatdeskError):
        trace = "In the writer process:\n" + "".join(traceback.format_exception(error)).rstrip()
    try:
        return pickle.dumps((result, error, trace), _PROTOCOL)
    except Exception as exc:  # an exception that cannot be pickled
        problem = RuntimeError(f"the writer's error could not be sent: {error!r} ({exc!r})")
        return pickle.dumps((None, problem, trace), _PROTOCOL)


class _Checkpointer:
    """Background WAL checkpoints on a connection of their own."""

    def __init__(self, url: str) -> None:
        self.path = make_url(url).database or ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)

    def start(self) -> None:
        if self.path and self.path != ":memory:":
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _run(self) -> None:
        connection = None
        while connection is None:
            try:
                connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            except sqlite3.Error:
                _log.warning("WAL checkpoints: cannot open %s yet", self.path, exc_info=True)
                if self._stop.wait(5):
                    return
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                self._checkpoint(connection, "PASSIVE")
            self._checkpoint(connection, "TRUNCATE")
        finally:
            connection.close()

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection, mode: str) -> None:
        try:
            _busy, frames, _done = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            if mode == "PASSIVE" and frames > WAL_LIMIT_FRAMES:
                connection.execute("PRAGMA wal_checkpoint(RESTART)")
        except sqlite3.Error:
            _log.warning("WAL checkpoint (%s) failed", mode, exc_info=True)
