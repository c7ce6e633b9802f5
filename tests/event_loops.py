"""Running a coroutine to completion from a sync test, whatever loop the test thread has.

Playwright's sync API keeps an event loop running in the main thread for the
whole session once a browser test has started, so ``asyncio.run`` there would
fail; a fresh thread gets a fresh loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_coroutine(
    make: Callable[[], Awaitable[T]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """``asyncio.run(make())`` in a thread of its own, on a loop from ``loop_factory``
    (asyncio's by default); returns its result or raises."""

    async def main() -> T:
        return await make()

    def run() -> T:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main())

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
