"""Database outages: which errors mean "not now" rather than "a bug", and their log.

An outage is a database error that the same request would not meet once the
database is back: PostgreSQL unreachable (refused, restarting, backends
terminated), SQLite's disk full, its file read-only, or a lock held past the busy
timeout. :class:`chatdesk.db.runner.Database` turns these into
:class:`chatdesk.errors.DatabaseUnavailable` (HTTP 503 with ``Retry-After``)
and tells :class:`Outages`, which logs one line when a cause begins (not one per
request) and one when the database answers again, counts each cause for
``/metrics``, and remembers whether writes are failing now, for readiness.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["CAUSES", "Outages", "file_problem", "outage_cause"]

CAUSES = ("unreachable", "disk_full", "read_only", "busy")
_log = logging.getLogger("chatdesk.db")

# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_CAUSES = {
    5: "busy",  # SQLITE_BUSY: a lock held past the busy timeout
    6: "busy",  # SQLITE_LOCKED
    8: "read_only",  # SQLITE_READONLY: the file (or its folder) is not writable
    10: "read_only",  # SQLITE_IOERR: the file cannot be written (a read-only mount, EIO)
    13: "disk_full",  # SQLITE_FULL
    14: "unreachable",  # SQLITE_CANTOPEN: the file or its folder is gone
}
_SQLITE_MESSAGES = (
    ("database or disk is full", "disk_full"),
    ("readonly database", "read_only"),
    ("disk i/o error", "read_only"),
    ("database is locked", "busy"),
    ("unable to open database file", "unreachable"),
)


def outage_cause(exc: BaseException) -> str | None:
    """The outage ``exc`` reports (one of :data:`CAUSES`), or None when it is not one.

    ``exc`` is SQLAlchemy's error, or the driver's own (the hot path's statements go
    to the driver's cursor directly, :mod:`chatdesk.db.direct`)."""
    if isinstance(exc, PoolTimeout):
        return "busy"
    error: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return "unreachable"
        error = exc.orig
    elif isinstance(exc, SQLAlchemyError):
        return None
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_CAUSES:
            return _SQLITE_CAUSES[code & 0xFF]
        text = str(error).lower()
        return next((cause for words, cause in _SQLITE_MESSAGES if words in text), None)
    if error is not None and type(error).__module__.startswith("psycopg"):
        import psycopg  # only here: a process on SQLite never loads it

        # A connection that cannot be made or was lost is an OperationalError (a
        # terminated backend, a database refusing connections, a server restarting); an
        # InterfaceError is a connection already closed.
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return "unreachable"
    return None


class Outages:
    """The outages one process has met: logged once per cause, counted, and whether
    writes fail now (until one succeeds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # readers report from their threads
        self._ongoing: dict[str, float] = {}  # cause -> when it was last met
        self.write_failing: tuple[str, float] | None = None  # (cause, when)

    def met(self, cause: str, exc: BaseException, *, writing: bool = False) -> None:
        """``exc`` showed the outage ``cause``; the first time since it last ended, it is
        logged (one line, the driver's message, no traceback)."""
        now = self.clock()
        with self._lock:
            self.counts[cause] += 1
            first = cause not in self._ongoing
            self._ongoing[cause] = now
            if writing:
                self.write_failing = (cause, now)
        if first:
            orig = getattr(exc, "orig", None) or exc
            detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
            _log.error(
                "database unavailable (%s): %s; requests answer 503 until it is back",
                cause,
                detail,
            )

    def wrote(self) -> None:
        """A write committed: writes work again."""
        with self._lock:
            if self.write_failing is None:
                return
            self.write_failing = None
        self.answered()

    def answered(self) -> None:
        """The database answered: the outages met so far have ended."""
        with self._lock:
            ended, self._ongoing = self._ongoing, {}
        if ended:
            _log.warning("database available again (after: %s)", ", ".join(sorted(ended)))

    def writes_failing(self, within: float) -> str | None:
        """The cause of the last failed write, if it failed less than ``within`` seconds
        ago and no write has succeeded since."""
        failing = self.write_failing
        if failing is None or self.clock() - failing[1] >= within:
            return None
        return failing[0]

    @property
    def ongoing(self) -> tuple[str, ...]:
        return tuple(sorted(self._ongoing))


def file_problem(path: str, min_free_bytes: int) -> str | None:
    """Why SQLite could not write ``path`` now, without writing: the file or its folder
    not writable (the folder holds the WAL), or less than ``min_free_bytes`` free on its
    disk; None when nothing is found."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "the database file is not writable"
    if not os.access(folder, os.W_OK):
        return "the database's folder is not writable"
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return f"the database's disk cannot be read ({exc.strerror})"
    if free < min_free_bytes:
        return f"the database's disk is full ({free // 1024} KiB free)"
    return None
