"""Routing what waited for someone: when an operator arrives, the process that holds
their console stream routes their sites' waiting conversations (ADR 0016)."""

from __future__ import annotations

import asyncio
import logging

from chatdesk.actions.routing import route_for_operator
from chatdesk.runtime import Services

__all__ = ["running", "sweep_for"]

_log = logging.getLogger("chatdesk.routing")
# Strong references to sweeps under way (the loop keeps only weak ones).
_running: set[asyncio.Task[None]] = set()


def running() -> int:
    """Sweeps under way in this process."""
    return len(_running)


def sweep_for(services: Services, operator_id: str) -> None:
    """In the background: route the waiting conversations of the sites ``operator_id``
    answers, now that they are online. Safe on several processes at once (the routing
    unit locks each site), so a duplicate sweep only finds nothing left to do."""
    online = services.operator_presence.connected()

    async def sweep() -> None:
        try:
            await services.db.write(route_for_operator, operator_id, online)
        except Exception as exc:  # the writer stopping, the database away: the next try
            _log.warning("routing sweep failed (%s)", type(exc).__name__)

    task = asyncio.get_running_loop().create_task(sweep())
    _running.add(task)
    task.add_done_callback(_running.discard)
