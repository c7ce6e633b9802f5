"""Progress bars on a terminal (standard error), nothing anywhere else."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Advance", "progress_bar"]

# Called with how much more is done.
Advance = Callable[[int], None]


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Advance]:
    """A bar of ``total`` steps while the block runs, when standard error is a terminal."""
    if not sys.stderr.isatty():
        yield lambda _done: None
        return
    # rich only here: a command run by a script or a test does not pay for it.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)
