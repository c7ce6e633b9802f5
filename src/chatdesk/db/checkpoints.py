"""SQLite's WAL checkpoints, off the write connection.

A checkpoint copies the WAL's pages into the database file and fsyncs it. On
the write connection (SQLite's default: after a commit that takes the WAL past
1,000 pages) it stalls every unit queued behind that commit, so every writer's
write connection has ``wal_autocheckpoint=0`` and a :class:`Checkpointer`
thread runs passive checkpoints on a connection of its own, which never block
the writer; a blocking one only if the WAL outgrows :data:`WAL_LIMIT_FRAMES`
(a reader holding an old snapshot can keep passive ones from finishing), and a
truncating one when the writer stops.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event, make_url

__all__ = ["CHECKPOINT_SECONDS", "WAL_LIMIT_FRAMES", "Checkpointer", "without_autocheckpoint"]

CHECKPOINT_SECONDS = 0.25
RETRY_SECONDS = 2.0  # after a failed checkpoint (the file unwritable, the disk full)
WAL_LIMIT_FRAMES = 50_000  # about 200 MB of 4 KiB pages
_log = logging.getLogger("chatdesk.db")


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def without_autocheckpoint(engine: Engine) -> None:
    """Connections ``engine`` opens from now on never checkpoint by themselves."""
    if not event.contains(engine, "connect", _no_autocheckpoint):
        event.listen(engine, "connect", _no_autocheckpoint)


class Checkpointer:
    """Background WAL checkpoints of one SQLite database file, on a thread of its own."""

    def __init__(self, url: str) -> None:
        database = make_url(url).database or ""
        self.path = "" if database == ":memory:" else database
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)

    def start(self) -> None:
        if self.path:
            self._thread.start()

    def stop(self) -> None:
        """A last, truncating checkpoint, then the thread ends."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        failing = False  # a spell of failures is logged once, when it begins
        try:
            while True:
                stopping = self._stop.wait(RETRY_SECONDS if failing else CHECKPOINT_SECONDS)
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                    self._checkpoint(connection, "TRUNCATE" if stopping else "PASSIVE")
                except sqlite3.Error:
                    if not failing:
                        _log.warning(
                            "WAL checkpoints of %s fail; retrying every %s s",
                            self.path,
                            RETRY_SECONDS,
                            exc_info=True,
                        )
                    failing = True
                    # SQLite opens a file it may not write read-only, and keeps it so: the
                    # next try opens it again (the disk may be full, or the file unwritable).
                    if connection is not None:
                        connection.close()
                        connection = None
                else:
                    if failing:
                        _log.warning("WAL checkpoints of %s work again", self.path)
                    failing = False
                if stopping:
                    return
        finally:
            if connection is not None:
                connection.close()

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection, mode: str) -> None:
        _busy, frames, _done = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        if mode == "PASSIVE" and frames > WAL_LIMIT_FRAMES:
            connection.execute("PRAGMA wal_checkpoint(RESTART)")
