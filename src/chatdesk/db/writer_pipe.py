"""One writer process and the server's end of its socket (ADRs 0007, 0008, 0011).

:func:`start_child` starts :mod:`chatdesk.db.writer_child` with one end of a
socket pair: forked from this process when that is safe (ADR 0011: it has no
other thread and no connection to the database open), so that the child shares
the modules this process has loaded, else as a fresh interpreter. :class:`ChildPipe`
is the other end: an ``asyncio.Protocol`` on the home loop of
:class:`chatdesk.db.writer_process.ProcessWriter`, and only ever touched there.
Its transport buffers what the child has not read yet, so a busy child never
blocks the loop (``pause_writing`` only records that the buffer is full: the
units are already accepted, and wait there for the child).

Units queued on the home loop leave :data:`TURN_UNITS` at a time and the rest
at the end of the loop's turn, so the child commits the start of a burst while
the loop still parses the rest. Each answer frame wakes ``answered`` (the
newest event id: the wake-up is published before the callers' own responses),
then the batch's callers. When the stream ends, the callers not answered get
:class:`chatdesk.errors.WriterUnavailable` and ``ended`` is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Protocol, cast

from sqlalchemy.engine import make_url

from chatdesk.db.framing import STOP, frame, frames
from chatdesk.db.packing import PROTOCOL, unpack_answer
from chatdesk.db.waiters import Waiter, deliver, unavailable
from chatdesk.db.writer import Job

__all__ = ["TURN_UNITS", "ChildPipe", "ChildProcess", "ForkedChild", "fork_ahead", "start_child"]

_log = logging.getLogger("chatdesk.db")
TURN_UNITS = 8  # units the home loop sends at once in a burst
_CHILD = "from chatdesk.db.writer_child import main; main()"

# An item for the child: a job id and its packed unit, or None to withdraw the job.
Item = tuple[int, bytes | None]


class ChildProcess(Protocol):
    """What the server holds of a writer process: a ``subprocess.Popen`` or a
    :class:`ForkedChild`."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


def start_child(
    url: str, batch_max: int, log_config: tuple[str, str, bool] | None
) -> tuple[ChildProcess, socket.socket]:
    """A new writer process and the server's end of its socket."""
    ahead = _AHEAD.pop(url, None)
    if ahead is not None:
        return ahead
    if _may_fork(url):
        return _fork_child(url, batch_max, log_config)
    ours, theirs = socket.socketpair()
    config = {
        "fd": theirs.fileno(),
        "url": url,
        "batch_max": batch_max,
        "log_config": log_config,
        "path": sys.path,  # where the units' modules are found (tests' too)
    }
    try:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, our own module)
            [sys.executable, "-c", _CHILD, json.dumps(config)],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return process, ours


# Writer processes forked ahead of their start, by database URL (fork_ahead).
_AHEAD: dict[str, tuple[ChildProcess, socket.socket]] = {}


def fork_ahead(url: str, batch_max: int, log_config: tuple[str, str, bool] | None) -> bool:
    """Fork the writer process of ``url`` now, if that is safe; the next :func:`start_child`
    for ``url`` takes it. ``python -m chatdesk.serving`` calls this before it imports the
    app, so the child's memory holds the data layer and none of the web stack: pages the
    server later writes to are copied, and the child would keep the old copies."""
    if url in _AHEAD or not _may_fork(url):
        return False
    _AHEAD[url] = _fork_child(url, batch_max, log_config)
    return True


def _may_fork(url: str) -> bool:
    """Whether a fork of this process is safe to write with (ADR 0011).

    Only a process with one thread (counted by the kernel, so threads started by C
    libraries count too): a fork copies no other thread, and so no lock another
    thread holds. And only with no descriptor open on the database or its WAL
    files: SQLite keeps each process's locks in memory per file, and a child must
    not inherit a connection's (the SQLite FAQ: do not carry a connection across
    fork). Where ``/proc`` cannot tell, the child is a fresh interpreter.
    """
    name = make_url(url).database
    if not name or name == ":memory:":
        return False
    database = os.path.realpath(name)
    try:
        if len(os.listdir("/proc/self/task")) != 1:
            return False
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue  # the directory's own descriptor, gone by now
            if target.startswith(database):  # the database, -wal, -shm, -journal
                return False
    except OSError:
        return False
    return True


def _fork_child(
    url: str, batch_max: int, log_config: tuple[str, str, bool] | None
) -> tuple[ChildProcess, socket.socket]:
    for stream in (sys.stdout, sys.stderr):  # else both processes would write it out
        with contextlib.suppress(AttributeError, ValueError, OSError):  # none, or closed
            stream.flush()
    ours, theirs = socket.socketpair()
    try:
        pid = os.fork()
    except BaseException:
        ours.close()
        theirs.close()
        raise
    if pid == 0:  # the child: never returns into the server's code
        code = 1
        try:
            ours.close()  # else the child would hold the server's end open itself
            from chatdesk.db.writer_child import forked

            forked(theirs, url, batch_max, log_config)
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)  # no atexit handlers or finalizers of the server's objects
    theirs.close()
    return ForkedChild(pid), ours


class ForkedChild:
    """A forked writer process, with the part of ``subprocess.Popen`` the server uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: it has ended
                self.returncode = 0
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"writer process {self.pid}", timeout or 0)
            time.sleep(0.005)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


class ChildPipe(asyncio.Protocol):
    """One child and the server's end of its socket, on the home loop."""

    def __init__(
        self,
        process: ChildProcess,
        loop: asyncio.AbstractEventLoop,
        *,
        answered: Callable[[int], None],
        ended: Callable[[ChildPipe], None],
    ) -> None:
        self.process = process
        self.loop = loop
        self._answered = answered
        self._ended = ended
        self.transport: asyncio.Transport | None = None
        self.waiting: dict[int, Waiter] = {}  # sent (or in this turn), not answered
        self.turn: list[Item] = []  # this turn's items, not sent yet
        self.flush_scheduled = False
        self.early: list[bytes] = []  # frames sent before the connection was made
        self.inbox = bytearray()  # answers not yet a whole frame
        self.paused = False  # the transport holds more than its high-water mark
        self.closed: asyncio.Future[None] = loop.create_future()

    async def connect(self, sock: socket.socket) -> None:
        """Watch ``sock`` on the loop; what was sent before waits until then."""
        try:
            await self.loop.connect_accepted_socket(lambda: self, sock)
        except Exception as exc:
            _log.exception("could not watch the writer process's socket")
            sock.close()
            self.process.kill()
            self.connection_lost(exc)

    # -- sending -----------------------------------------------------------------

    def queue(self, job: Job) -> None:
        self.waiting[job.job_id] = job.caller
        self.turn.append((job.job_id, job.payload))
        if len(self.turn) >= TURN_UNITS:
            self.send(self.turn)  # the flush already scheduled sends the rest
            self.turn = []
        self._schedule_flush()

    def withdraw(self, job_id: int) -> None:
        """The job's caller was cancelled: the child skips it unless it has taken it."""
        if self.waiting.pop(job_id, None) is not None:
            self.turn.append((job_id, None))
            self._schedule_flush()

    def stop(self) -> None:
        """Ask the child to answer everything sent, then exit (``closed`` then resolves)."""
        self.flush()
        self.write(STOP)

    def _schedule_flush(self) -> None:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        items, self.turn = self.turn, []
        if items:
            self.send(items)

    def send(self, items: list[Item]) -> None:
        self.write(frame(pickle.dumps(items, PROTOCOL)))

    def write(self, data: bytes) -> None:
        if self.transport is None:
            if not self.closed.done():
                self.early.append(data)
        elif not self.transport.is_closing():
            self.transport.write(data)

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not subclass asyncio.Transport).
        self.transport = stream = cast(asyncio.Transport, transport)
        for data in self.early:
            stream.write(data)
        self.early.clear()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    def data_received(self, data: bytes) -> None:
        self.inbox += data
        for answer in frames(self.inbox):
            try:
                answers, newest = pickle.loads(answer)  # noqa: S301 (see chatdesk.db.packing)
            except Exception:  # its callers are unknown: end the child, which fails them all
                _log.exception("could not read the writer's answers; restarting it")
                self.process.kill()
                return
            results = []
            for job_id, failed, packed in answers:
                caller = self.waiting.pop(job_id, None)
                if caller is not None:
                    results.append((caller, *unpack_answer(failed, packed)))
            self._answered(newest)  # the wake-up goes out before the callers' responses
            deliver(results)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.turn.clear()
        self.early.clear()
        lost, self.waiting = list(self.waiting.values()), {}
        unavailable(lost)
        if not self.closed.done():
            self.closed.set_result(None)
            self._ended(self)

    # -- the process -----------------------------------------------------------------

    async def reap(self, timeout: float) -> None:
        """Wait for the ending child without blocking the loop; kill it if it lingers."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait(5)
                return
            await asyncio.sleep(0.01)
