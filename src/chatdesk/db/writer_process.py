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
fixed by the caller's clock when it is sent. The server's event loop works the
socket itself (ADR 0007): units leave a few at a time as they are queued,
through a non-blocking socket (the loop never waits for the child), and the
answers are read and handed to their callers on the loop. The child takes
every message waiting before each batch.

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
import concurrent.futures
import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.util  # registers its exit hook before ours (see start)
import os
import pickle
import selectors
import signal
import socket
import sqlite3
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterator
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
TURN_UNITS = 8  # units the home loop sends at once in a burst
_READ_SIZE = 1 << 18
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
    """One writer process, the server's end of its socket, and who waits on it."""

    process: Any
    sock: socket.socket  # non-blocking; watched by the home loop while attached
    waiting: dict[int, Waiter] = field(default_factory=dict)
    inbox: bytearray = field(default_factory=bytearray)  # answers not yet a whole frame
    outbox: bytearray = field(default_factory=bytearray)  # frames the socket has not taken
    attached: bool = False
    writing: bool = False  # the home loop waits for the socket to take the outbox
    taken: bool = False  # stop() took it from a stuck home loop: the loop keeps off
    released: threading.Event = field(default_factory=lambda: _set(threading.Event()))


def _set(flag: threading.Event) -> threading.Event:
    flag.set()  # a child not yet attached is not watched by any loop
    return flag


# A message to the child: the units' (job id, payload) and their (job id, caller).
_Outgoing = tuple[list[tuple[int, bytes]], list[tuple[int, Waiter]]]


class ProcessWriter:
    """The server side: sends units to the child, wakes callers with its answers.

    All socket work happens on one event loop, the home loop: the server's
    loop, given to ``start()``, or else a loop of its own in a thread. Units from
    the home loop leave straight from it, :data:`TURN_UNITS` at a time and the
    rest at the end of the loop's turn, so the child works on the first units of
    a burst while the loop still parses the others. Units from other threads and
    loops are handed to the home loop. The socket is non-blocking: a busy child
    makes the outbox wait, never the loop.
    """

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
        self._home: asyncio.AbstractEventLoop | None = None
        self._home_ident: int | None = None  # the home loop's thread
        self._own_loop: threading.Thread | None = None  # when the home loop is our own
        self._turn: _Outgoing | None = None  # the home loop's units not sent yet
        self._child: _Child | None = None
        self._sending = False  # False: units are refused at once (not started, or stopped)
        self._closing = False
        self._failures = 0
        self._lock = threading.Lock()  # _closing, and handing a respawned child over
        self._respawner: threading.Thread | None = None
        self._respawned: _Child | None = None  # started, not yet adopted by the home loop

    # -- lifecycle -----------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the child; ``loop`` (the server's, called on it) becomes the home loop.
        Without one, or once that loop has stopped, the home loop is one of our own."""
        if loop is not None:
            self._home, self._home_ident, self._own_loop = loop, threading.get_ident(), None
        elif self._home is None or not self._home.is_running():
            self._start_own_loop()
        with self._lock:
            self._closing = False
        self._turn = None
        child = self._spawn()
        self._child = child
        self._on_home(self._attach, child)
        with self._lock:
            self._sending = True
        # Registered after multiprocessing's own exit hook, so it runs first: the child
        # ignores SIGTERM and must be told to stop before multiprocessing joins it.
        atexit.register(self.stop, 5)

    def _start_own_loop(self) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="db-write-io", daemon=True)
        thread.start()
        self._home, self._home_ident, self._own_loop = loop, thread.ident, thread

    def stop(self, timeout: float = 30) -> None:
        """Let the child finish and answer what it was sent, then end it."""
        atexit.unregister(self.stop)
        with self._lock:  # units handed over before this run on the home loop first
            self._closing = True
            self._sending = False
            respawned, self._respawned = self._respawned, None
        child = self._detach_from_home(timeout)
        if self._respawner is not None:
            self._respawner.join(timeout)
            self._respawner = None
        if child is not None:
            self._end(child, timeout)
        if respawned is not None:
            self._end(respawned, 5)
        if self._own_loop is not None and self._home is not None:
            self._home.call_soon_threadsafe(self._home.stop)
            self._own_loop.join(timeout)
            self._home.close()
            self._home = self._own_loop = self._home_ident = None

    def _detach_from_home(self, timeout: float) -> _Child | None:
        """Send this turn's units, stop watching the socket; the current child."""
        home = self._home
        if home is None or not home.is_running():  # nothing watches the socket any more
            child = self._take_child(from_loop=False)
            if child is not None:
                child.released.set()
            return child
        if self.on_home_thread():
            return self._take_child()
        done: concurrent.futures.Future[_Child | None] = concurrent.futures.Future()

        def take() -> None:
            if done.set_running_or_notify_cancel():
                done.set_result(self._take_child())

        home.call_soon_threadsafe(take)
        try:
            return done.result(timeout)
        except TimeoutError:
            if not done.cancel():  # it has just run
                return done.result()
        # The home loop is stuck: take the child from here; the loop lets go of its
        # socket (and closes it) when it runs again.
        child = self._take_child(from_loop=False)
        if child is not None:
            child.taken = True
            home.call_soon_threadsafe(self._detach, child)
        return child

    def _take_child(self, *, from_loop: bool = True) -> _Child | None:
        """The current child, no longer the writer's; on the loop, with this turn's
        units sent and its socket no longer watched."""
        if from_loop:
            self._flush()
        else:  # a turn the loop never sent: its callers would wait forever
            turn, self._turn = self._turn, None
            if turn is not None:
                deliver([(caller, None, WriterUnavailable()) for _, caller in turn[1]])
        child, self._child = self._child, None
        if child is not None and from_loop:
            self._detach(child)
        return child

    def _end(self, child: _Child, timeout: float) -> None:
        """Outside the loop: send what is left and the stop message while reading every
        answer up to the end of the stream (both at once: a child with answers to
        send reads nothing more until they are taken), then reap the child."""
        child.outbox += _header(0)  # an empty frame: stop
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(child.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            with contextlib.suppress(OSError, EOFError):  # EOF: the child is done
                while (left := deadline - time.monotonic()) > 0:
                    if not child.outbox:
                        selector.modify(child.sock, selectors.EVENT_READ)
                    for _key, ready in selector.select(left):
                        if ready & selectors.EVENT_WRITE and child.outbox:
                            with contextlib.suppress(BlockingIOError, InterruptedError):
                                del child.outbox[: child.sock.send(child.outbox)]
                        if ready & selectors.EVENT_READ:
                            data = child.sock.recv(_READ_SIZE)
                            if not data:
                                raise EOFError
                            self._received(child, data)
        child.process.join(max(deadline - time.monotonic(), 1))
        if child.process.is_alive():
            child.process.kill()
            child.process.join(5)
        if child.released.wait(5):  # never close a socket the loop still watches
            child.sock.close()
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
        ours, theirs = socket.socketpair()
        child_end = Connection(theirs.detach())
        process = self._context.Process(
            target=serve,
            args=(self.url, self.batch_max, child_end, self.log_config),
            name="chatdesk-writer",
            daemon=True,
        )
        try:
            process.start()
        finally:
            child_end.close()
        ours.setblocking(False)
        return _Child(process, ours)

    def on_home_thread(self) -> bool:
        """Whether this is the home loop's thread."""
        return threading.get_ident() == self._home_ident

    def _on_home(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on the home loop: now if this is its thread, else handed over."""
        if self.on_home_thread():
            fn(*args)
        else:
            assert self._home is not None
            self._home.call_soon_threadsafe(fn, *args)

    # -- on the home loop ----------------------------------------------------------

    def _attach(self, child: _Child) -> None:
        if self._child is child and not child.attached:
            assert self._home is not None
            child.released.clear()
            self._home.add_reader(child.sock.fileno(), self._readable, child)
            child.attached = True
            if child.outbox:
                self._drain(child)

    def _detach(self, child: _Child) -> None:
        if child.attached and self._home is not None:
            self._home.remove_reader(child.sock.fileno())
            if child.writing:
                self._home.remove_writer(child.sock.fileno())
        child.attached = child.writing = False
        child.released.set()

    def send_async(
        self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[Any], call: Call
    ) -> None:
        """Queue ``call`` from ``loop``'s thread; ``waiter`` gets its outcome."""
        job_id = next(self._ids)
        payload = _pack(job_id, call)
        caller = (job_id, Waiter(waiter=waiter, loop=loop))
        if loop is not self._home:
            self._hand_over(([payload], [caller]))
            return
        if not self._sending:
            deliver([(caller[1], None, WriterUnavailable())])
            return
        turn = self._turn
        if turn is None:
            turn = self._turn = ([], [])
            loop.call_soon(self._flush)
        turn[0].append(payload)
        turn[1].append(caller)
        if len(turn[0]) >= TURN_UNITS:
            self._turn = ([], [])  # the flush already scheduled sends the rest
            self._write(turn)

    def send_sync(self, future: Any, call: Call) -> None:
        """Queue ``call`` from any thread; ``future`` gets its outcome (once the home
        loop has sent it: waiting for it on the home loop's thread would never end)."""
        job_id = next(self._ids)
        payload = _pack(job_id, call)
        if future.set_running_or_notify_cancel():
            self._hand_over(([payload], [(job_id, Waiter(future=future, started=True))]))

    def _hand_over(self, item: _Outgoing) -> None:
        """Give units to the home loop, which must be running to send them."""
        with self._lock:  # stop() cannot come between the check and the hand-over
            home = self._home
            if self._sending and home is not None:
                with contextlib.suppress(RuntimeError):  # the home loop has closed
                    home.call_soon_threadsafe(self._write, item)
                    return
        deliver([(caller, None, WriterUnavailable()) for _, caller in item[1]])

    def _flush(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None and turn[0]:
            self._write(turn)

    def _write(self, item: _Outgoing) -> None:
        payloads, callers = item
        child = self._child
        if child is None:  # stopped, or between a dead child and its replacement
            deliver([(caller, None, WriterUnavailable()) for _, caller in callers])
            return
        child.waiting.update(callers)
        data = pickle.dumps(payloads, _PROTOCOL)
        child.outbox += _header(len(data))
        child.outbox += data
        if child.attached and not child.writing:
            self._drain(child)

    def _drain(self, child: _Child) -> None:
        """Give the socket what it takes of the outbox; wait for it to take the rest."""
        if child.taken:
            return
        try:
            sent = child.sock.send(child.outbox)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the socket broke: that child is gone
            _log.exception("could not send units to the writer process")
            self._ended(child)
            return
        del child.outbox[:sent]
        assert self._home is not None
        if child.outbox and not child.writing:
            self._home.add_writer(child.sock.fileno(), self._drain, child)
            child.writing = True
        elif not child.outbox and child.writing:
            self._home.remove_writer(child.sock.fileno())
            child.writing = False

    def _readable(self, child: _Child) -> None:
        if child.taken:  # stop() reads it now; the loop lets go of it next
            return
        try:
            data = child.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self._received(child, data)
        else:
            self._ended(child)

    def _received(self, child: _Child, data: bytes) -> None:
        child.inbox += data
        for frame in _frames(child.inbox):
            try:
                self._answer(child, frame)
            except Exception:  # its callers are unknown: end the child, which fails them all
                _log.exception("could not read the writer's answers; restarting it")
                child.process.kill()

    def _answer(self, child: _Child, data: bytes) -> None:
        answers, newest = pickle.loads(data)  # noqa: S301 (see _PROTOCOL)
        results = []
        for job_id, packed in answers:
            caller = child.waiting.pop(job_id, None)
            if caller is not None:
                results.append((caller, *_unpack_answer(packed)))
        self._failures = 0
        if newest:  # the wake-up goes out before the callers' own responses
            self._on_commit(newest)
        deliver(results)

    def _ended(self, child: _Child) -> None:
        """The child's stream ended or broke: unless it was stopped, it died; replace it."""
        self._detach(child)
        if self._child is not child:
            return
        self._child = None
        self._fail(child)
        delay = RESPAWN_DELAYS[min(self._failures, len(RESPAWN_DELAYS) - 1)]
        self._failures += 1
        with self._lock:
            if self._closing:
                return
            self._respawner = threading.Thread(
                target=self._respawn, args=(child, delay), name="db-write-respawn", daemon=True
            )
            self._respawner.start()

    def _fail(self, child: _Child) -> None:
        lost = list(child.waiting.values())
        child.waiting.clear()
        deliver([(caller, None, WriterUnavailable()) for caller in lost])

    # -- off the loop ------------------------------------------------------------------

    def _respawn(self, dead: _Child, delay: float) -> None:
        """A thread: reap the dead child, then start another for the home loop."""
        dead.sock.close()
        dead.process.join(max(delay, 1))
        _log.error(
            "writer process %s ended unexpectedly (exit code %s)",
            dead.process.pid,
            dead.process.exitcode,
        )
        fresh: _Child | None = None
        while fresh is None:
            time.sleep(delay)
            if self._closing:
                return
            try:
                fresh = self._spawn()
            except Exception:  # e.g. out of processes or memory: try again, later
                _log.exception("could not start a writer process")
                delay = RESPAWN_DELAYS[-1]
        with self._lock:
            if not self._closing:
                self._respawned, fresh = fresh, None
        if fresh is not None:  # stopped meanwhile
            self._end(fresh, 5)
            return
        with contextlib.suppress(RuntimeError, AssertionError):  # no home loop: stop() ends it
            self._on_home(self._adopt)

    def _adopt(self) -> None:
        with self._lock:
            fresh, self._respawned = self._respawned, None
        if fresh is None:
            return
        if self._child is not None:  # restarted meanwhile: this one is not needed
            threading.Thread(target=self._end, args=(fresh, 5), daemon=True).start()
            return
        self._child = fresh
        self._attach(fresh)
        _log.warning("writer process %s started", fresh.process.pid)


def _header(size: int) -> bytes:
    """The frame header :class:`multiprocessing.connection.Connection` reads."""
    if size > 0x7FFFFFFF:
        return struct.pack("!i", -1) + struct.pack("!Q", size)
    return struct.pack("!i", size)


def _frames(buffer: bytearray) -> Iterator[bytes]:
    """Take every whole frame off the front of ``buffer``."""
    while len(buffer) >= 4:
        (size,) = struct.unpack_from("!i", buffer)
        start = 4
        if size == -1:
            if len(buffer) < 12:
                return
            (size,) = struct.unpack_from("!Q", buffer, 4)
            start = 12
        if len(buffer) < start + size:
            return
        frame = bytes(buffer[start : start + size])
        del buffer[: start + size]
        yield frame


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
