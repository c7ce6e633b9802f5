"""The writer contract: what every writer behind :class:`chatdesk.db.runner.Database` means.

chatdesk has one writer per server: a thread (:mod:`chatdesk.db.writer_thread`,
PostgreSQL's, and SQLite's with ``CHATDESK_SQLITE_WRITER=thread``) or a child
process (:mod:`chatdesk.db.writer_process`, SQLite's default, ADR 0006). They
mean exactly the same thing, which ``tests/realtime/test_writer_contract.py``
checks against each of them (ADR 0008):

Units. A unit of work is ``fn(unit, *args, **kwargs)``; ``fn`` must be an
importable function and ``args``, ``kwargs`` and its result picklable. The
caller packs the unit with pickle when it queues it (:mod:`chatdesk.db.packing`),
so a lambda or closure fails at once with a TypeError on every writer, and
every unit gets a copy of its arguments and its caller a copy of the result.

Batches. A writer takes every unit queued since its last commit (at most
``batch_max``), runs them in one transaction where a unit that raises rolls
back alone (:mod:`chatdesk.db.batch`), commits once, reports the newest event
id committed to ``on_commit`` and then answers the batch's callers. A unit's
error is raised to its caller (an unexpected one with the writer's traceback
as a note); a batch whose transaction fails (connection, lock, commit) fails
every caller in it with that error.

Now. ``unit.now`` is the time the caller's clock read when it queued the unit.

Cancellation. A cancelled caller (its task, or the Future of ``submit``)
withdraws its unit: a unit the writer has not yet taken into a batch is
skipped; one already taken runs and commits, and nobody hears its outcome.
The writer thread takes units when it starts a batch, the child process when
it reads them before a batch.

Availability. A writer that is not started, is stopped, or has lost its child
process answers :class:`chatdesk.errors.WriterUnavailable` (HTTP 503) at once;
the callers a dying child had not answered get it too, and a new child starts
(see :mod:`chatdesk.db.writer_process`).

Checkpoints. On SQLite the write connection never checkpoints the WAL
(:mod:`chatdesk.db.checkpoints`); a background thread beside the writer does.

Shutdown. ``stop()`` answers every unit queued before it (the units run and
commit), then ends the writer; units queued after it get WriterUnavailable at
once. On the event loop given to ``start()`` a blocking wait would never end:
there ``aclose()`` stops the writer and ``write_sync`` is refused.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Protocol

from chatdesk.db.waiters import Waiter
from chatdesk.errors import WriterUnavailable

__all__ = ["Job", "Writer", "WriterUnavailable", "next_job_id"]

next_job_id = itertools.count(1).__next__


@dataclass(eq=False, slots=True)
class Job:
    """A unit of work queued for a writer (packed, see :mod:`chatdesk.db.packing`)
    and who waits for it."""

    job_id: int
    payload: bytes
    caller: Waiter


class Writer(Protocol):
    """What :class:`chatdesk.db.runner.Database` needs of a writer; the meaning is
    the module's docstring. ``send`` and ``withdraw`` may be called from any thread."""

    def start(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Start writing. ``loop``: the server's event loop, when called on it."""

    def stop(self, timeout: float) -> None:
        """Answer everything queued, then end; not on the loop given to ``start``."""

    async def aclose(self, timeout: float) -> None:
        """:meth:`stop` from an event loop, the one given to ``start`` included."""

    def send(self, job: Job) -> None:
        """Queue ``job``; its caller gets its outcome, or WriterUnavailable."""

    def withdraw(self, job: Job) -> None:
        """``job``'s caller was cancelled: skip the unit if it has not been taken."""

    @property
    def alive(self) -> bool:
        """Whether units are being written (a started writer whose thread or child runs)."""

    @property
    def pid(self) -> int | None:
        """The process that writes: the child's pid, or None for a thread."""

    @property
    def queued(self) -> int:
        """Units sent and not yet answered (approximate)."""
