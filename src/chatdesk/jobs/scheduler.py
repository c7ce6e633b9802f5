"""Timed work, on exactly one process: snoozed conversations woken at their time.

Every process runs a :class:`Scheduler` (started and stopped by the outbox worker,
``jobs/worker.py``). A tick that writes is one unit of work through the writer
(:func:`chatdesk.jobs.lease.tick`): take or renew the lease in the database, and, when
held, wake what is due. Idle, it costs one short read per poll interval and a write per
half lease (the holder's renewal): the holder reads when the next snooze is due and
writes only then or to renew; the others read when the lease runs out, and one of them
takes over once a dead holder's lease ran out. The holder sleeps until the next wake-up
it knows of, or the poll interval. A snooze set in this process nudges it
(:meth:`Scheduler.wake`); one set elsewhere is seen within the poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from chatdesk.clock import Clock
from chatdesk.db.runner import Database
from chatdesk.jobs.lease import Tick, TimedWork, chore, lease_expiry, tick

__all__ = ["Chore", "Scheduler"]


@dataclass(frozen=True)
class Chore:
    """Periodic work on the lease's holder: ``work(unit, *args)`` (an importable unit,
    e.g. ``actions.retention.expire_inactive``) every ``every_seconds``, run again at
    once while ``after`` says more is due. ``after`` gets the result once committed
    (to remove files, say) and answers (how many things the run did, whether more is
    due)."""

    name: str
    every_seconds: float
    work: Callable[..., Any]
    args: tuple[Any, ...]
    after: Callable[[Any], Awaitable[tuple[int, bool]]]


_log = logging.getLogger("chatdesk.jobs")


class Scheduler:
    """Runs the timed jobs while this process holds the scheduler's lease."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        work: TimedWork,
        next_due: Callable[[Connection], datetime | None],
        poll_seconds: float,
        lease_seconds: float,
        chores: tuple[Chore, ...] = (),
    ) -> None:
        """``work`` is the unit that does what is due (``actions.snooze.wake_due``) and
        ``next_due`` the read that says when the next is due (``actions.snooze.next_wake``);
        the app hands them in (jobs do not import actions)."""
        self.db = db
        self.work = work
        self.next_due = next_due
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.lease_seconds = max(lease_seconds, poll_seconds * 3)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.held = False
        self.until: datetime | None = None  # when our lease runs out, while held
        self.woken = 0  # conversations this process woke
        self.chores = chores
        self.chores_done: Counter[str] = Counter()  # what this process's chores did, by name
        self._chore_at: dict[str, float] = {}  # loop time each chore is next due
        self._woken_event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A snooze changed in this process: look again now."""
        if self._woken_event is not None:
            self._woken_event.set()

    async def start(self) -> None:
        self._woken_event = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None

    async def _run(self) -> None:
        failing = False
        while True:
            assert self._woken_event is not None
            self._woken_event.clear()
            try:
                step = await self._step()
                if step.held:
                    await self._run_chores()
            except Exception as exc:
                if not failing:  # once per spell
                    _log.warning("scheduler step failed (%s); retrying", type(exc).__name__)
                failing = True
                await self._wait(self.poll_seconds)
                continue
            failing = False
            self.held = step.held
            self.woken += step.woken
            await self._wait(self._delay(step))

    async def _step(self) -> Tick:
        """Read first; write (take or renew the lease, wake what is due) only when needed."""
        now = self.clock()
        renew_at = None if self.until is None else self.until - self._half_lease
        if self.held and renew_at is not None and now < renew_at:
            due = await self.db.read(self.next_due)
            if due is None or due > now:
                return Tick(True, 0, due, self.until)
        elif not self.held:
            expiry = await self.db.read(lambda conn: lease_expiry(conn, "scheduler"))
            if expiry is not None and expiry > now:
                return Tick(False, 0, None)
        step: Tick = await self.db.write(tick, self.holder, self.lease_seconds, self.work)
        self.until = step.until
        return step

    async def _run_chores(self) -> None:
        now = asyncio.get_running_loop().time()
        for job in self.chores:
            if self._chore_at.get(job.name, now) > now:
                continue
            self._chore_at[job.name] = now + job.every_seconds
            while True:
                result = await self.db.write(
                    chore, self.holder, self.lease_seconds, job.work, *job.args
                )
                if result is None:  # the lease went to another process meanwhile
                    self.held = False
                    return
                done, more = await job.after(result)
                self.chores_done[job.name] += done
                if not more:
                    break

    @property
    def _half_lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds / 2)

    def _delay(self, step: Tick) -> float:
        if not step.held or step.next_due is None:
            return self.poll_seconds
        # (A renewal falls due within the poll interval: half a lease is at least that.)
        due_in = (step.next_due - self.clock()).total_seconds()
        # Never a busy loop: a due row this tick could not take is tried again shortly.
        return min(self.poll_seconds, max(0.05, due_in))

    async def _wait(self, timeout: float) -> None:
        assert self._woken_event is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._woken_event.wait()
