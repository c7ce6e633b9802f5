"""SQLite's writer process (ADRs 0006, 0008, 0011): the child's side.

Started by :class:`chatdesk.db.writer_process.ProcessWriter`, in one of two ways
(:func:`chatdesk.db.writer_pipe.start_child`). Forked from the server while it
has a single thread and no database connection (:func:`forked`): the child then
shares the pages of every module the server has loaded, SQLAlchemy's included,
for as long as neither writes to them. Otherwise as a fresh interpreter
(``python -c``, :func:`main`): it imports only this module and what the units
it is sent need, which pickle imports by name. Either way it owns the only write
connection, which never checkpoints (a thread on a connection of its own does,
:mod:`chatdesk.db.checkpoints`).

Loop: block until a frame arrives, then take every frame already waiting, drop
the units withdrawn meanwhile, run the rest in batches of ``batch_max``
(:func:`chatdesk.db.packing.run_packed`) and send one answer frame per batch.
An empty frame means stop: everything before it is answered, then the process
exits. So does the end of the stream (the server is gone). It ignores SIGINT
and SIGTERM, which a terminal or a service manager sends the whole group: the
server stops it itself, once its last requests are answered.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import pickle
import signal
import socket
import sys
from typing import Any

from sqlalchemy import Engine

from chatdesk.db.checkpoints import Checkpointer, without_autocheckpoint
from chatdesk.db.engine import make_engine
from chatdesk.db.framing import frame, frames
from chatdesk.db.packing import PROTOCOL, Packed, run_packed

__all__ = ["forked", "main", "serve"]

_READ_SIZE = 1 << 18


def main() -> None:
    """The child's entry point; its one argument is the server's JSON configuration."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config: dict[str, Any] = json.loads(sys.argv[1])
    sys.path[:] = config["path"]
    if config["log_config"] is not None:
        _log_later(*config["log_config"])
    with socket.socket(fileno=config["fd"]) as sock:
        serve(sock, config["url"], config["batch_max"])


def forked(
    sock: socket.socket, url: str, batch_max: int, log_config: tuple[str, str, bool] | None
) -> None:
    """The entry point of a child forked from the server (ADR 0011); it has inherited
    the modules the server had loaded by then, and its open descriptors."""
    # The objects inherited stay where they are: the collector would otherwise write
    # to each of them and so copy every page the child shares with the server.
    gc.freeze()
    signal.set_wakeup_fd(-1)  # the server's event loop, which would hear our signals
    for number in signal.valid_signals():
        if callable(signal.getsignal(number)):  # the server's handlers
            signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _detach_inherited(keep=sock.fileno())
    if log_config is not None:  # forked ahead of the app, the server had not set it up yet
        _log_later(*log_config)
    serve(sock, url, batch_max)


def _detach_inherited(keep: int) -> None:
    """Point every descriptor inherited from the server (its event loop's, a Redis
    connection's, ...), except standard streams and ``keep``, at ``/dev/null``.

    They are the server's business: held here, a socket the server closes would stay
    open. They are replaced rather than closed so that their numbers stay taken: an
    inherited object that closed "its" descriptor could otherwise close one of the
    child's own, such as its database file's.
    """
    inherited = [int(fd) for fd in os.listdir("/proc/self/fd")]  # and the listing's own
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in inherited:
            if fd > 2 and fd not in (keep, null):
                os.dup2(null, fd)
    finally:
        os.close(null)


def serve(sock: socket.socket, url: str, batch_max: int) -> None:
    """Run batches until the server says stop or goes away."""
    engine = make_engine(url, pool_size=1, writer=True)
    without_autocheckpoint(engine)
    checkpointer = Checkpointer(url)
    checkpointer.start()
    try:
        _serve(_Reader(sock), sock, engine, batch_max)
    finally:
        checkpointer.stop()
        engine.dispose()


def _serve(reader: _Reader, sock: socket.socket, engine: Engine, batch_max: int) -> None:
    while True:
        try:
            messages = reader.take()
        except (EOFError, OSError):
            return
        units: dict[int, bytes] = {}
        stop = False
        for message in messages:
            if not message:
                stop = True
                continue
            items: list[tuple[int, bytes | None]] = pickle.loads(message)  # noqa: S301
            for job_id, payload in items:
                if payload is None:  # withdrawn: its caller was cancelled
                    units.pop(job_id, None)
                else:
                    units[job_id] = payload
        queued: list[Packed] = list(units.items())
        for start in range(0, len(queued), batch_max):
            answers, newest = run_packed(engine, queued[start : start + batch_max], is_sqlite=True)
            try:
                sock.sendall(frame(pickle.dumps((answers, newest), PROTOCOL)))
            except OSError:
                return
        if stop:
            return


def _log_later(fmt: str, level: str, production: bool) -> None:
    """The server's logging set-up, made at the first line this process logs: it costs
    about 5 MiB here (structlog), and a healthy writer logs nothing."""
    root = logging.getLogger()
    root.setLevel(level.upper())

    class FirstLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            from chatdesk.logs import configure_logging

            configure_logging(fmt, level, production)  # replaces this handler
            root.handle(record)

    root.handlers[:] = [FirstLine()]


class _Reader:
    """Frames from the server, taken all at once."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.eof = False

    def take(self) -> list[bytes]:
        """Every whole frame waiting, after blocking for the first one; EOFError once
        the server has closed its end and every frame before that was taken."""
        taken = list(frames(self.buffer))
        while not taken:
            if self.eof:
                raise EOFError
            self._receive(block=True)
            taken.extend(frames(self.buffer))
        while not self.eof and self._receive(block=False):
            taken.extend(frames(self.buffer))
        return taken

    def _receive(self, *, block: bool) -> bool:
        """Read what the socket has; False when it had nothing (not blocking)."""
        try:
            data = self.sock.recv(_READ_SIZE, 0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True
