"""The outbox worker: one loop per process that dispatches webhook events and sends due jobs.

Started and stopped by the app's lifespan. Every database step is a unit of work
through the same writer as requests (or a read on a reader thread); sending runs on
the event loop, never on a request's path, at most ``CHATDESK_JOB_CONCURRENCY`` at once.

Idle, it costs one short read every ``CHATDESK_JOB_POLL_SECONDS`` (when is the next
job due, is any webhook active) and nothing else: it sleeps until then, until the
next job it knows of falls due, or until it is woken. The hub wakes it when new events
are committed (:meth:`Worker.saw_event`, at most once per :data:`DISPATCH_LINGER`, and
only while a webhook is active); the API wakes it when webhooks change or a delivery
is resent. Events are dispatched in one unit per linger (``jobs/dispatch.py``); due
jobs are claimed in one unit per batch of free slots (``jobs/outbox.py``); outcomes
are recorded in one unit for all that finished meanwhile. While the event loop is
busy with requests, all of it slows to one step per :data:`BUSY_PACE`.

On stop, sends in flight are cut short and their jobs released (due again at once,
for the next process), and every outcome is recorded before the database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from chatdesk.clock import Clock
from chatdesk.db.runner import Database
from chatdesk.jobs.dispatch import dispatch_events
from chatdesk.jobs.lease import TimedWork
from chatdesk.jobs.outbox import (
    Claim,
    Job,
    OutboxState,
    Outcome,
    RetryPolicy,
    Sender,
    claim_due,
    outbox_state,
    outcome_of,
    record_outcomes,
)
from chatdesk.jobs.scheduler import Chore, Scheduler
from chatdesk.queries.webhooks import any_active_webhook
from chatdesk.settings import Settings

__all__ = ["BUSY_PACE", "DISPATCH_LINGER", "Worker"]

_log = logging.getLogger("chatdesk.jobs")
# After the first new event, the dispatcher waits this long so that one unit queues the
# deliveries of every event committed meanwhile (a burst of messages: a few units a second).
DISPATCH_LINGER = 0.1
_STOP_RECORD_SECONDS = 2.0
_STOP_TASK_SECONDS = 2.0
# Requests come first. While the worker has work, it looks every LAG_PROBE seconds at
# how late the event loop answers a timer and how many units wait for the writer: past
# BUSY_LAG or BUSY_QUEUE the server is serving all the requests it can, and the worker
# dispatches and claims at most once per BUSY_PACE (one unit each, for all that is
# due), catching up at full speed once the load eases. Deferring is safe: the events
# wait in the log, the jobs in the outbox.
LAG_PROBE = 0.1
BUSY_LAG = 0.01
BUSY_QUEUE = 8
BUSY_PACE = 1.0


def _look(conn: Connection, kinds: list[str]) -> tuple[OutboxState, bool]:
    return outbox_state(conn, kinds), any_active_webhook(conn)


class Worker:
    """Sends the outbox's due jobs with the :class:`Sender` registered for each kind."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        senders: Iterable[Sender] = (),
        *,
        timed: tuple[TimedWork, Callable[[Connection], datetime | None]] | None = None,
        chores: tuple[Chore, ...] = (),
    ) -> None:
        """``timed``: the scheduler's work and its next-due read (jobs/scheduler.py),
        and ``chores`` its periodic work; without ``timed`` this worker runs no timed work."""
        self.db = db
        self.clock = clock
        self.concurrency = settings.job_concurrency
        self.poll_seconds = settings.job_poll_seconds
        self.lease_seconds = settings.job_lease_seconds
        self.policy = RetryPolicy(
            base_seconds=settings.job_retry_base_seconds,
            max_seconds=settings.job_retry_max_seconds,
            max_attempts=settings.job_max_attempts,
            max_age=timedelta(hours=settings.job_max_age_hours),
        )
        # Timed work (snooze wake-ups) on the one process holding the lease.
        self.scheduler: Scheduler | None = None
        if timed is not None:
            self.scheduler = Scheduler(
                db,
                clock,
                work=timed[0],
                next_due=timed[1],
                poll_seconds=settings.scheduler_poll_seconds,
                lease_seconds=settings.scheduler_lease_seconds,
                chores=chores,
            )
        self._senders: dict[str, Sender] = {}
        for sender in senders:
            self.register(sender)
        # (what, kind) -> jobs: "enqueued" (taken up for the first time: every job is,
        # once, by some process), "delivered", "retried", "failed".
        self.counts: Counter[tuple[str, str]] = Counter()
        self.state: OutboxState | None = None  # as last read, for the metrics
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[asyncio.Task[None], Job] = {}
        self._outcomes: list[Outcome] = []
        self._recorder: asyncio.Task[None] | None = None
        self._look_at = 0.0  # loop time of the next read of the outbox's state
        self._next_due: datetime | None = None
        self._webhooks_active = False
        self._seen_event = 0
        self._dispatched_through = 0
        self._dispatch_at: float | None = None
        self.lag = 0.0  # how late the loop last answered the probe (seconds)
        self._busy = False
        self._prober: asyncio.Task[None] | None = None
        self._paced_until = 0.0  # while busy, no claim before this loop time

    def register(self, sender: Sender) -> None:
        """Send the jobs of ``sender.kind`` with ``sender`` (one sender per kind)."""
        self._senders[sender.kind] = sender

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # -- nudges (on the worker's event loop) ---------------------------------------------

    def saw_event(self, event_id: int) -> None:
        """The hub learnt of events up to ``event_id``: dispatch them soon if a webhook is
        active. Cheap: it runs for every committed batch."""
        if event_id <= self._seen_event:
            return
        self._seen_event = event_id
        if self._webhooks_active and self._dispatch_at is None and self._loop is not None:
            linger = BUSY_PACE if self.busy else DISPATCH_LINGER
            self._dispatch_at = self._loop.time() + linger
            self._probe_lag()
            self._wake()

    def wake(self) -> None:
        """Something may be due now (a delivery was resent, a job enqueued): look now."""
        self._look_at = 0.0
        self._wake()

    def webhooks_changed(self) -> None:
        """Webhooks were added, changed or removed in this process: look again now."""
        self.wake()

    def _wake(self) -> None:
        if self._woken is not None:
            self._woken.set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="outbox-worker")
        if self.scheduler is not None:
            await self.scheduler.start()

    async def stop(self) -> None:
        """Stop looping, cut sends in flight short (their jobs are released) and record
        every outcome. Each step is bounded in time: a send that will not stop cannot hang
        the shutdown (its job's lease runs out and it is sent again, same id)."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        await _cancel(self._task)
        self._task = None
        await _cancel(self._prober)
        await _cancel(*self._in_flight)
        await _cancel(self._recorder)
        if self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                await asyncio.wait_for(self.db.write(record_outcomes, batch), _STOP_RECORD_SECONDS)
            except Exception as exc:  # the leases run out instead: sent again, same ids
                _log.warning("outcomes not recorded at stop (%s)", type(exc).__name__)
        for sender in self._senders.values():
            close = getattr(sender, "aclose", None)
            if close is not None:
                await close()

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self._step()
            except Exception as exc:
                if not failing:  # once per spell; the database's outages are logged where met
                    _log.warning("outbox worker step failed (%s); retrying", type(exc).__name__)
                failing = True
                self._look_at = self._now_loop() + self.poll_seconds
                await self._wait(self.poll_seconds)
                continue
            if failing:
                _log.info("outbox worker works again")
                failing = False

    def _now_loop(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    async def _step(self) -> None:
        assert self._woken is not None
        self._woken.clear()
        if self._now_loop() >= self._look_at:
            await self._look()
        if self._dispatch_at is not None and self._now_loop() >= self._dispatch_at:
            await self._dispatch()
        free = self._free()
        if free and self._next_due is not None and self._next_due <= self.clock():
            claim: Claim = await self.db.write(
                claim_due, list(self._senders), free, self.lease_seconds
            )
            self._next_due = claim.next_due
            if not claim.jobs and claim.next_due is not None and claim.next_due <= self.clock():
                # Due, but held by another process's claim in progress: look again shortly.
                self._next_due = self.clock() + timedelta(seconds=0.1)
            if self.busy:
                self._paced_until = self._now_loop() + BUSY_PACE
            for job in claim.jobs:
                self._start_send(job)
            if len(claim.jobs) == free:
                return  # maybe more are due: claim again once slots free
        await self._wait(self._timeout())

    @property
    def busy(self) -> bool:
        """Whether the server is serving all the requests it can (see BUSY_LAG)."""
        return self._busy

    def _free(self) -> int:
        """Slots to claim jobs for now: none until half of them are free (or nothing is
        in flight), so that the worker claims in batches, one unit for many jobs; while
        busy, a batch per BUSY_PACE."""
        free = self.concurrency - len(self._in_flight)
        if self.busy:
            return free if self._now_loop() >= self._paced_until else 0
        return free if free >= max(1, self.concurrency // 2) or not self._in_flight else 0

    def _has_work(self) -> bool:
        due = self._next_due is not None and self._next_due <= self.clock()
        return bool(self._in_flight) or due or self._dispatch_at is not None

    def _probe_lag(self) -> None:
        if self._prober is None or self._prober.done():
            self._prober = asyncio.create_task(self._probe(), name="outbox-lag-probe")

    async def _probe(self) -> None:
        """Measure how late the event loop runs while there is work (see LAG_PROBE)."""
        loop = asyncio.get_running_loop()
        while self._has_work():
            started = loop.time()
            await asyncio.sleep(LAG_PROBE)
            was_busy = self._busy
            self.lag = max(0.0, loop.time() - started - LAG_PROBE)
            self._busy = self.lag > BUSY_LAG or self.db.queued >= BUSY_QUEUE
            if was_busy and not self._busy:
                self._wake()  # full speed again
        self.lag, self._busy = 0.0, False

    def _timeout(self) -> float:
        now = self._now_loop()
        deadlines = [self._look_at]
        if self._dispatch_at is not None:
            deadlines.append(self._dispatch_at)
        if self._next_due is not None and self._free():
            due_in = (self._next_due - self.clock()).total_seconds()
            deadlines.append(now + max(0.0, due_in))
        elif self.busy and self._next_due is not None and len(self._in_flight) < self.concurrency:
            deadlines.append(self._paced_until)
        return max(0.0, min(deadlines) - now)

    async def _wait(self, timeout: float) -> None:
        assert self._woken is not None
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for may swallow a cancellation
        # that arrives as the wait ends, and the loop would go on past stop().
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._woken.wait()

    async def _look(self) -> None:
        kinds = list(self._senders)
        state, active = await self.db.read(lambda conn: _look(conn, kinds))
        self._look_at = self._now_loop() + self.poll_seconds
        self.state = state
        self._next_due = state.next_due
        self._webhooks_active = active
        if active and self._seen_event > self._dispatched_through and self._dispatch_at is None:
            self._dispatch_at = self._now_loop()

    async def _dispatch(self) -> None:
        self._dispatch_at = None
        seen = self._seen_event
        while True:
            done = await self.db.write(dispatch_events)
            if done.queued:
                self._next_due = self.clock()
            if not done.more:
                break
        # Up to what this process had seen: without a webhook the cursor stays put.
        self._dispatched_through = max(done.cursor, seen)

    # -- sending -------------------------------------------------------------------------

    def _start_send(self, job: Job) -> None:
        if job.attempts == 1:
            self.counts["enqueued", job.kind] += 1
        self._probe_lag()
        task = asyncio.create_task(self._send(job), name=f"send-{job.id}")
        self._in_flight[task] = job
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        if self._free():
            self._wake()  # enough slots are free to claim a batch

    async def _send(self, job: Job) -> None:
        result: Any
        try:
            result = await self._senders[job.kind].send(job)
        except asyncio.CancelledError:
            self._outcomes.append(
                Outcome(job.id, job.kind, job.attempts, "pending", self.clock(), released=True)
            )
            raise
        except Exception as exc:
            result = exc
            if not hasattr(exc, "reason"):  # not RetryLater or GiveUp: a sender's bug
                _log.exception("sender %s failed on job %s", job.kind, job.id)
        outcome = outcome_of(job, result, self.clock(), self.policy)
        counted = {"delivered": "delivered", "failed": "failed", "pending": "retried"}
        self.counts[counted[outcome.status], job.kind] += 1
        self._outcomes.append(outcome)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record())

    async def _record(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                await self.db.write(record_outcomes, batch)
            except Exception as exc:  # the leases run out instead: sent again, same ids
                _log.warning("%d outcomes not recorded (%s)", len(batch), type(exc).__name__)
                continue
            retries = [o.next_attempt_at for o in batch if o.status == "pending"]
            if retries:
                soonest = min(t for t in retries if t is not None)
                if self._next_due is None or soonest < self._next_due:
                    self._next_due = soonest
                    self._wake()


async def _cancel(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` and wait for them to end, for at most _STOP_TASK_SECONDS: a task
    that swallows its cancellation is left behind rather than hanging the shutdown."""
    present = [task for task in tasks if task is not None]
    for task in present:
        task.cancel()
    if not present:
        return
    done, pending = await asyncio.wait(present, timeout=_STOP_TASK_SECONDS)
    for task in done:  # retrieved, so that none is reported as never retrieved
        if not task.cancelled():
            task.exception()
    if pending:
        _log.warning("%d outbox task(s) did not stop in time", len(pending))
