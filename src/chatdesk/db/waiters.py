"""The callers waiting for units of work, and how a committed batch wakes them.

Callers on an event loop wait on an asyncio future of that loop, and each loop
is woken once per committed batch (one ``call_soon_threadsafe`` for all of its
units; none when the answers arrive on that loop); callers on other threads
wait on a ``concurrent.futures.Future``.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

from chatdesk.errors import WriterUnavailable

__all__ = ["Waiter", "deliver", "unavailable"]


@dataclass(eq=False, slots=True)
class Waiter:
    """One caller: ``waiter`` on ``loop``, or ``future`` from any thread."""

    future: Future[Any] | None = None
    waiter: asyncio.Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def cancelled(self) -> bool:
        """Whether the caller has gone away (readable from any thread)."""
        if self.future is not None:
            return self.future.cancelled()
        assert self.waiter is not None
        return self.waiter.cancelled()


def deliver(results: list[tuple[Waiter, Any, BaseException | None]]) -> None:
    """Resolve each caller with its value or error (from any thread)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any, BaseException | None]]] = {}
    for caller, value, error in results:
        if caller.loop is not None:
            by_loop.setdefault(caller.loop, []).append((caller.waiter, value, error))
        elif caller.future is not None:
            # Cancelled meanwhile (from another thread): nobody waits for it.
            with contextlib.suppress(InvalidStateError):
                if error is not None:
                    caller.future.set_exception(error)
                else:
                    caller.future.set_result(value)
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    for loop, outcomes in by_loop.items():
        if loop is here:
            _settle(outcomes)
            continue
        with contextlib.suppress(RuntimeError):  # that loop closed: nobody waits
            loop.call_soon_threadsafe(_settle, outcomes)


def unavailable(callers: list[Waiter]) -> None:
    """Fail ``callers`` with :class:`WriterUnavailable` (HTTP 503)."""
    if callers:
        deliver([(caller, None, WriterUnavailable()) for caller in callers])


def _settle(outcomes: list[tuple[Any, Any, BaseException | None]]) -> None:
    """On the event loop: resolve the waiters of one committed batch at once."""
    for waiter, value, error in outcomes:
        if waiter.done():  # cancelled meanwhile
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(value)
