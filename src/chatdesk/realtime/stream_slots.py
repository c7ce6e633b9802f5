"""How many event streams each principal holds open, so one token cannot hold hundreds.

Counted per process: with several processes a principal may hold up to the cap on
each (docs/settings.md). A stream takes its slot before it parks and frees it when
it ends, however it ends.
"""

from __future__ import annotations

__all__ = ["StreamSlots"]


class StreamSlots:
    """Open event streams (SSE and parked long-polls) per principal, ``kind:id``."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def acquire(self, principal: str, cap: int) -> bool:
        """Take a slot for ``principal``; False when it already holds ``cap``."""
        held = self._open.get(principal, 0)
        if held >= cap:
            return False
        self._open[principal] = held + 1
        return True

    def release(self, principal: str) -> None:
        held = self._open.get(principal, 0) - 1
        if held > 0:
            self._open[principal] = held
        else:
            self._open.pop(principal, None)

    def held(self, principal: str) -> int:
        return self._open.get(principal, 0)
