"""Units of work and their answers as bytes, and running a batch of packed units.

Every writer moves units the same way, whether they cross to another process
or not (the contract in :mod:`chatdesk.db.writer`): the caller packs
``(now, fn, args, kwargs)`` with pickle when it queues the unit, so a lambda,
a closure or an argument pickle cannot carry fails at once with a TypeError,
on every writer; the writer unpacks it, runs it with the others of its batch
(:func:`run_packed`), and packs its result inside the unit's transaction, so a
result that cannot travel fails its unit (rolled back), never a committed one.
Errors come back pickled too, an unexpected one with its traceback as a note.

Pickles travel only between the server and its own writer (a thread, or a
child over a socket pair that nothing else holds): nothing unpickled here
comes from outside.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from chatdesk.clock import aware
from chatdesk.db.batch import Call, Unit, newest_event, run_batch
from chatdesk.db.outages import outage_cause
from chatdesk.errors import ChatdeskError

__all__ = [
    "PROTOCOL",
    "Answer",
    "Packed",
    "PackedAnswer",
    "pack_unit",
    "run_packed",
    "unpack_answer",
]

PROTOCOL = pickle.HIGHEST_PROTOCOL
_log = logging.getLogger("chatdesk.db")

# A job id and its packed unit.
Packed = tuple[int, bytes]
# A job id, whether the unit failed, and its pickled result, or its pickled
# (error, traceback text): a result is pickled once, inside its transaction.
PackedAnswer = tuple[int, bool, bytes]
# An unpacked answer: (value, None) or (None, error).
Answer = tuple[Any, BaseException | None]


def pack_unit(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], now: datetime
) -> bytes:
    """``fn(unit, *args, **kwargs)`` at ``now`` as bytes; TypeError if pickle cannot
    carry it (``fn`` must be importable by name: a module-level function)."""
    # The time travels naive (UTC): an aware datetime takes several times longer to pickle.
    naive = aware(now).replace(tzinfo=None)
    try:
        return pickle.dumps((naive, fn, args, kwargs), PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(
            f"a unit of work must be an importable function with picklable arguments, "
            f"not {fn!r}: {exc}"
        ) from exc


def unpack_answer(failed: bool, data: bytes) -> Answer:
    """A packed answer (see :data:`PackedAnswer`) as (value, error)."""
    try:
        if not failed:
            return pickle.loads(data), None  # noqa: S301 (see the module's docstring)
        error, trace = pickle.loads(data)  # noqa: S301
    except Exception as exc:  # a class this process cannot rebuild
        return None, RuntimeError(f"the writer's answer could not be read: {exc!r}")
    if trace:  # the caller logs the error; its traceback only existed in the writer
        error.add_note(trace)
    return None, error


def run_packed(
    engine: Engine, units: list[Packed], *, is_sqlite: bool
) -> tuple[list[PackedAnswer], int]:
    """Run ``units`` as one batch (:func:`chatdesk.db.batch.run_batch`) and commit;
    one packed answer per job, and the newest event id the batch committed (0 if none)."""
    answers: list[PackedAnswer] = []
    ids: list[int] = []
    calls: list[Call] = []
    for job_id, payload in units:
        try:
            now, fn, args, kwargs = pickle.loads(payload)  # noqa: S301 (see the docstring)
        except Exception as exc:  # a unit this process cannot import
            unreadable = RuntimeError(f"unit not readable: {exc!r}")
            answers.append((job_id, True, _pack_error(unreadable)))
            continue
        ids.append(job_id)
        calls.append(Call(_pickled_result, (fn, args, kwargs), {}, now.replace(tzinfo=UTC)))
    if not calls:
        return answers, 0
    try:
        outcomes = run_batch(engine, calls, is_sqlite=is_sqlite)
    except Exception as exc:  # the transaction itself failed: nothing in the batch happened
        if outage_cause(exc) is None:  # an outage is logged once, by the server
            _log.exception("write batch failed")
        _reopen_after(exc, engine)
        packed = _pack_error(exc)  # once: every caller gets its own copy of the error
        answers.extend((job_id, True, packed) for job_id in ids)
        return answers, 0
    for _result, error, _unit in outcomes:
        if error is not None and _reopen_after(error, engine):
            break
    for job_id, (result, error, _unit) in zip(ids, outcomes, strict=True):
        if error is None:
            answers.append((job_id, False, result))
        else:
            answers.append((job_id, True, _pack_error(error)))
    return answers, newest_event(outcomes)


def _reopen_after(error: BaseException, engine: Engine) -> bool:
    """After an error saying the file could not be written or opened, close the write
    connection, so the next batch opens the file again: SQLite opens a file it may not
    write read-only, and keeps it so on that connection after access returns."""
    if outage_cause(error) not in ("read_only", "unreachable"):
        return False
    engine.dispose()
    return True


def _pickled_result(unit: Unit, fn: Callable[..., Any], args: Any, kwargs: Any) -> bytes:
    """Run the unit and pickle its result inside its transaction."""
    return pickle.dumps(fn(unit, *args, **kwargs), PROTOCOL)


def _pack_error(error: BaseException) -> bytes:
    """(error, traceback text): an unexpected error's traceback travels beside it, since
    pickling keeps no traceback (and some exceptions keep no notes)."""
    trace = None
    if not isinstance(error, ChatdeskError):
        trace = "In the writer:\n" + "".join(traceback.format_exception(error)).rstrip()
    try:
        return pickle.dumps((error, trace), PROTOCOL)
    except Exception as exc:  # an exception that cannot be pickled
        problem = RuntimeError(f"the writer's error could not be sent: {error!r} ({exc!r})")
        return pickle.dumps((problem, trace), PROTOCOL)
