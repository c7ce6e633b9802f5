"""The durable outbox: jobs written in the transaction that causes them, sent off any request.

A job is one row of ``outbox`` (``db/tables.py``): its kind (``"webhook"``, an email
kind, ...), a JSON payload, and its state. It is written by the unit of work that
causes it, so it exists exactly when that change was committed: a crash never loses
one or invents one. Webhook deliveries are written by the dispatcher
(``jobs/dispatch.py``) from the event log; other kinds call :func:`enqueue` inside
their unit::

    job_id = enqueue(unit, "email.transcript", {"conversation_id": cid, "to": email})

The worker (``jobs/worker.py``) claims due jobs (:func:`claim_due`), hands each to the
:class:`Sender` registered for its kind, and records what happened
(:func:`record_outcomes`): delivered, retried later with exponential backoff and full
jitter (:func:`retry_delay`), or failed for good (:func:`outcome_of`).

A job's id is stable across its attempts (``msg_<id>``): webhooks send it as
``webhook-id`` so receivers can drop duplicates; senders of other kinds may use it the
same way (a Message-ID). Delivery is at least once: a job whose sender succeeded but
whose process died before recording it is sent again after its lease, with the same id.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import (
    Connection,
    Text,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from chatdesk.clock import aware, iso
from chatdesk.db.batch import Unit
from chatdesk.db.direct import Direct
from chatdesk.db.tables import events, outbox, webhooks
from chatdesk.ids import new_id

__all__ = [
    "JOB_ID_PREFIX",
    "Claim",
    "GiveUp",
    "Job",
    "OutboxState",
    "Outcome",
    "RetryLater",
    "RetryPolicy",
    "Sender",
    "Sent",
    "TargetGone",
    "WebhookTarget",
    "claim_due",
    "enqueue",
    "insert_deliveries",
    "new_job_id",
    "outbox_state",
    "outcome_of",
    "purge_deliveries",
    "record_outcomes",
    "retry_delay",
    "webhook_body",
]

JOB_ID_PREFIX = "msg_"
_ERROR_CHARS = 500  # outbox.last_error


# The backoff's jitter draws from a generator of its own: the process's global one is
# everyone's (and a test that fixes its seed must not see the worker move it).
_JITTER = random.Random()


def new_job_id() -> str:
    """A job id: ``msg_`` and a time-ordered chatdesk id (30 characters)."""
    return JOB_ID_PREFIX + new_id()


# -- what senders see and say ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where a webhook job goes, read when the job is claimed (so an edited URL counts)."""

    id: str
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed job as its sender gets it.

    ``attempts`` is this attempt's number (1 for the first); ``created_at`` is when the
    job was enqueued. Webhook jobs also carry their ``event_type``, ``webhook`` and the
    ``body`` made from their event (see :func:`webhook_body`).
    """

    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    event_type: str | None = None
    webhook: WebhookTarget | None = None
    body: str | None = None  # a webhook delivery's JSON body (None: its event was purged)


@dataclass(frozen=True, slots=True)
class Sent:
    """A sender's success; ``status_code`` is what the receiver answered, when it has one."""

    status_code: int | None = None


class RetryLater(Exception):
    """A transient failure: try again later (within the retry limits)."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class GiveUp(Exception):
    """A permanent failure: the job is ``failed`` at once."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class TargetGone(GiveUp):
    """The receiver says it is gone for good (HTTP 410): the job fails and its webhook is
    paused (the Standard Webhooks convention)."""


class Sender(Protocol):
    """Sends the jobs of one ``kind``; registered with the worker. ``send`` returns
    :class:`Sent`, or raises :class:`RetryLater` or :class:`GiveUp` (any other exception
    counts as a transient failure and is logged). A sender that also has ``async def
    aclose()`` is closed when the worker stops. ``send`` may be cancelled (the server
    stops): the job is then released, due again at once."""

    kind: str

    async def send(self, job: Job) -> Sent: ...


# -- writing jobs --------------------------------------------------------------------------


def enqueue(
    unit: Unit, kind: str, payload: dict[str, Any], *, not_before: datetime | None = None
) -> str:
    """Queue a job of ``kind`` in ``unit``'s transaction (call inside the unit of work that
    causes it); it is sent once committed, not before ``not_before`` if given. Returns
    the job id. ``payload`` must be JSON-serialisable."""
    job_id = new_job_id()
    row = {
        "id": job_id,
        "kind": kind,
        "webhook_id": None,
        "event_type": None,
        "event_id": None,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or unit.now,
        "claimed_until": None,
        "last_status_code": None,
        "last_error": None,
        "created_at": unit.now,
        "delivered_at": None,
    }
    _INSERT_JOB.run(unit.cursor, unit.dialect, row)
    return job_id


_INSERT_JOB = Direct(insert(outbox), tuple(column.name for column in outbox.c))


# A delivery's row: what is the same for all of them is written into the statement, so
# a burst of deliveries binds six values a row.
_INSERT_DELIVERY = Direct(
    insert(outbox).values(
        kind=literal_column("'webhook'"),
        payload=literal_column("'{}'"),
        status=literal_column("'pending'"),
        attempts=literal_column("0"),
    ),
    ("id", "webhook_id", "event_type", "event_id", "next_attempt_at", "created_at"),
)


def insert_deliveries(unit: Unit, deliveries: Sequence[tuple[str, str, int]]) -> None:
    """Queue webhook deliveries, each ``(webhook id, event type, event id)``, due now
    (one statement for all); a delivery's body is made from its event when it is
    claimed (:func:`webhook_body`)."""
    if deliveries:
        now = unit.now
        rows = [
            {
                "id": new_job_id(),
                "webhook_id": webhook_id,
                "event_type": event_type,
                "event_id": event_id,
                "next_attempt_at": now,
                "created_at": now,
            }
            for webhook_id, event_type, event_id in deliveries
        ]
        _INSERT_DELIVERY.run_many(unit.cursor, unit.dialect, rows)


def webhook_body(
    event_type: str, created_at: datetime, site_id: str, conversation_id: str | None, data: str
) -> str:
    """A delivery's JSON body, as the Standard Webhooks payload structure suggests:
    ``type``, ``timestamp`` (the event's), the event's ``site_id`` and
    ``conversation_id``, and ``data``: the event's data as stored (JSON text, as
    operators see it), never decoded and encoded again."""
    return (
        f'{{"type":{json.dumps(event_type)},"timestamp":{json.dumps(iso(aware(created_at)))},'
        f'"site_id":{json.dumps(site_id)},"conversation_id":{json.dumps(conversation_id)},'
        f'"data":{data}}}'
    )


# -- claiming ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """Jobs claimed, and when the next one of those kinds falls due (None: none pending)."""

    jobs: list[Job]
    next_due: datetime | None


def _due_where(kinds: Sequence[str]) -> list[Any]:
    # A paused webhook's deliveries wait for it to be resumed.
    return [
        outbox.c.status == "pending",
        outbox.c.kind.in_(list(kinds)),
        or_(outbox.c.webhook_id.is_(None), webhooks.c.active.is_(True)),
    ]


_WITH_WEBHOOK = outbox.outerjoin(webhooks, webhooks.c.id == outbox.c.webhook_id)
_CLAIMED = _WITH_WEBHOOK.outerjoin(events, events.c.id == outbox.c.event_id)


def claim_due(unit: Unit, kinds: Sequence[str], limit: int, lease_seconds: float) -> Claim:
    """Claim up to ``limit`` due jobs of ``kinds`` for ``lease_seconds`` (a unit of work).

    Claiming counts an attempt and moves the job's ``next_attempt_at`` to the end of its
    lease (``claimed_until``): if the claimer dies, the job is due again then. PostgreSQL
    skips rows another transaction holds (``FOR UPDATE SKIP LOCKED``); SQLite's writer
    serialises claims. Oldest due first.
    """
    now = unit.now
    query = (
        select(outbox.c.id)
        .select_from(_WITH_WEBHOOK)
        .where(*_due_where(kinds), outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
    )
    if unit.dialect.name == "postgresql":
        query = query.with_for_update(of=outbox, skip_locked=True)
    ids = list(unit.conn.execute(query).scalars())
    jobs: list[Job] = []
    if ids:
        until = now + timedelta(seconds=lease_seconds)
        unit.conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(attempts=outbox.c.attempts + 1, claimed_until=until, next_attempt_at=until)
        )
        rows = unit.conn.execute(
            select(
                outbox,
                webhooks.c.url,
                webhooks.c.secret,
                events.c.created_at.label("event_at"),
                events.c.site_id.label("event_site_id"),
                events.c.conversation_id.label("event_conversation_id"),
                # As stored: the body carries it as it is (webhook_body).
                cast(events.c.data, Text).label("event_data"),
            )
            .select_from(_CLAIMED)
            .where(outbox.c.id.in_(ids))
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
        ).all()
        jobs = [_job(row) for row in rows]
    return Claim(jobs, _next_due(unit.conn, kinds))


def _next_due(conn: Connection, kinds: Sequence[str]) -> datetime | None:
    # ORDER BY + LIMIT 1 walks the (status, next_attempt_at) index and stops at the first
    # row that may be claimed; min() would read every pending row.
    found = conn.execute(
        select(outbox.c.next_attempt_at)
        .select_from(_WITH_WEBHOOK)
        .where(*_due_where(kinds))
        .order_by(outbox.c.next_attempt_at)
        .limit(1)
    ).scalar()
    return aware(found) if found is not None else None


def _job(row: Any) -> Job:
    target = body = None
    if row.webhook_id is not None:
        target = WebhookTarget(row.webhook_id, row.url, row.secret)
    if row.event_data is not None:
        body = webhook_body(
            row.event_type,
            row.event_at,
            row.event_site_id,
            row.event_conversation_id,
            row.event_data,
        )
    return Job(
        id=row.id,
        kind=row.kind,
        payload=row.payload,
        attempts=row.attempts,
        created_at=aware(row.created_at),
        event_type=row.event_type,
        webhook=target,
        body=body,
    )


# -- outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed attempt is tried again: after :func:`retry_delay`, while the job has
    made fewer than ``max_attempts`` and is younger than ``max_age``."""

    base_seconds: float
    max_seconds: float
    max_attempts: int
    max_age: timedelta


def retry_delay(
    attempts: int, base_seconds: float, max_seconds: float, rand: Callable[[], float]
) -> float:
    """Seconds before the next attempt after ``attempts`` attempts: exponential backoff
    with full jitter, uniform in [0, min(max_seconds, base_seconds * 2**(attempts-1))]."""
    ceiling = min(max_seconds, base_seconds * 2.0 ** min(max(attempts - 1, 0), 60))
    return rand() * ceiling


JobStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to record for one attempt of ``job_id`` (the attempt numbered ``attempts``).

    ``released``: the attempt was cut short (the server stopped): the job is due again at
    ``next_attempt_at`` with nothing else changed. ``pause_webhook``: the receiver is gone
    (410), so this webhook is paused.
    """

    job_id: str
    kind: str
    attempts: int
    status: JobStatus
    next_attempt_at: datetime | None = None
    status_code: int | None = None
    error: str | None = None
    released: bool = False
    pause_webhook: str | None = None


def outcome_of(
    job: Job,
    result: Sent | BaseException,
    now: datetime,
    policy: RetryPolicy,
    rand: Callable[[], float] | None = None,
) -> Outcome:
    """What a sender's answer means for ``job``: delivered, failed for good (``GiveUp``, or
    out of attempts or age), or due again after :func:`retry_delay`."""
    rand = rand or _JITTER.random
    delivered = Outcome(job.id, job.kind, job.attempts, "delivered")
    if isinstance(result, Sent):
        return replace(delivered, status_code=result.status_code)
    code = getattr(result, "status_code", None)
    error = (getattr(result, "reason", None) or f"{type(result).__name__}: {result}")[:_ERROR_CHARS]
    failed = replace(delivered, status="failed", status_code=code, error=error)
    if isinstance(result, GiveUp):
        gone = job.webhook.id if isinstance(result, TargetGone) and job.webhook else None
        return replace(failed, pause_webhook=gone)
    if job.attempts >= policy.max_attempts:
        return replace(failed, error=f"{error} (no attempts left)"[:_ERROR_CHARS])
    if now - job.created_at >= policy.max_age:
        return replace(failed, error=f"{error} (too old to retry)"[:_ERROR_CHARS])
    delay = retry_delay(job.attempts, policy.base_seconds, policy.max_seconds, rand)
    return replace(failed, status="pending", next_attempt_at=now + timedelta(seconds=delay))


def record_outcomes(unit: Unit, outcomes: Sequence[Outcome]) -> int:
    """Record attempts' outcomes (a unit of work); returns how many applied.

    An outcome applies only while its job is still pending at that attempt: one that a
    slower claimer reports after the lease ran out and another process claimed the job
    again (so the attempt count moved on) changes nothing. A job that fails for good
    keeps the time it failed in ``next_attempt_at`` (it is never due again).
    """
    applied = 0
    for outcome in outcomes:
        values: dict[str, Any] = {"claimed_until": None}
        if outcome.released:
            values["next_attempt_at"] = outcome.next_attempt_at or unit.now
        else:
            values.update(
                status=outcome.status,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
            )
            if outcome.status == "delivered":
                values["delivered_at"] = unit.now
            elif outcome.status == "pending":
                values["next_attempt_at"] = outcome.next_attempt_at or unit.now
            else:  # never due again: the column keeps when it failed (the console shows it)
                values["next_attempt_at"] = unit.now
        done = unit.conn.execute(
            update(outbox)
            .where(
                outbox.c.id == outcome.job_id,
                outbox.c.attempts == outcome.attempts,
                outbox.c.status == "pending",
            )
            .values(values)
        )
        applied += done.rowcount
        if done.rowcount and outcome.pause_webhook is not None:
            _pause_gone_webhook(unit, outcome.pause_webhook)
    return applied


def _pause_gone_webhook(unit: Unit, webhook_id: str) -> None:
    # The failed delivery says why (its status code and error); the console shows both.
    unit.conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id)
        .values(active=False, updated_at=unit.now)
    )


# -- reading the state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxState:
    """What the worker reads when idle: when the next job of its kinds is due, and for
    the metrics, how many jobs are pending and since when the oldest waits."""

    next_due: datetime | None
    pending: int
    oldest_pending: datetime | None


def outbox_state(conn: Connection, kinds: Sequence[str]) -> OutboxState:
    # Every kind, every process's; a paused webhook's deliveries are not waiting to go.
    pending, oldest = conn.execute(
        select(func.count(), func.min(outbox.c.created_at))
        .select_from(_WITH_WEBHOOK)
        .where(
            outbox.c.status == "pending",
            or_(outbox.c.webhook_id.is_(None), webhooks.c.active.is_(True)),
        )
    ).one()
    return OutboxState(
        _next_due(conn, kinds), int(pending), aware(oldest) if oldest is not None else None
    )


def purge_deliveries(unit: Unit, older_than: datetime) -> int:
    """Delete delivered and failed jobs created before ``older_than``; pending ones stay."""
    done = unit.conn.execute(
        delete(outbox).where(outbox.c.status != "pending", outbox.c.created_at < older_than)
    )
    return int(done.rowcount)
