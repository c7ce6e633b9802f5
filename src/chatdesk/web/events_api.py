"""The events endpoint shared by visitors and operators: long-poll JSON or SSE."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import Query, Request
from starlette.responses import Response

from chatdesk.errors import ValidationFailed
from chatdesk.realtime.routing import event_keys
from chatdesk.runtime import Services
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.security.rate_limits import RateLimitExceeded
from chatdesk.shape_types import Author, EventsPage
from chatdesk.shapes import typing_shape
from chatdesk.web.delivery import EventStream, long_poll
from chatdesk.web.routing_sweep import sweep_for

__all__ = ["After", "Wait", "events_response", "publish_typing"]

MAX_CURSOR = 2**62
# A principal over its stream cap is told to retry after this long (its other streams
# may have ended by then; the widget's own streams retry with backoff anyway).
STREAM_RETRY_SECONDS = 10
After = Annotated[int | None, Query(ge=0, le=MAX_CURSOR, description="Cursor: last event id seen")]
Wait = Annotated[
    float | None, Query(ge=0, le=55, description="Seconds to wait for an event (long-poll)")
]


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id")
    if raw is None or raw == "":
        return None
    # isascii(): str.isdigit() also accepts "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_CURSOR:
        raise ValidationFailed("Last-Event-ID must be an event id.", {"field": "Last-Event-ID"})
    return int(raw)


async def events_response(
    request: Request,
    services: Services,
    actor: OperatorActor | VisitorActor,
    after: int | None,
    wait: float | None,
    still_allowed: Any = None,
) -> Response | EventsPage:
    settings = services.settings
    principal = _take_stream_slot(services, actor)
    handed_over = False
    on_close: Callable[[], None] = partial(services.stream_slots.release, principal)
    on_heartbeat: Callable[[], None] | None = None
    if isinstance(actor, VisitorActor) and services.presence.interval is not None:
        on_heartbeat, on_close = _presence(services, actor, on_close)
    streaming = "text/event-stream" in request.headers.get("accept", "")
    seconds = settings.long_poll_default_wait if wait is None else wait
    seconds = min(seconds, settings.long_poll_max_wait)
    # Counted before its listener parks: an operator's own stream does not carry the
    # news of their own arrival (the console reads its team's presence over REST).
    console = _console_stream(services, actor, parks=streaming or seconds > 0)
    try:
        if streaming:
            resume = _last_event_id(request)
            stream = await EventStream.open(
                services.db,
                services.hub,
                actor,
                resume if resume is not None else after,
                heartbeat=settings.sse_heartbeat_seconds,
                send_timeout=settings.sse_send_timeout_seconds,
                still_allowed=still_allowed,
                on_heartbeat=on_heartbeat,
                on_close=_both(on_close, console) if console is not None else on_close,
            )
            handed_over = True  # the stream frees its slot (and its console) when it ends
            return stream
        return await long_poll(
            services.db, services.hub, actor, after, seconds, request.scope, request.receive
        )
    finally:
        if not handed_over:
            services.stream_slots.release(principal)
            if console is not None:  # a long-poll's wait is over (or the stream never began)
                console()


def _console_stream(
    services: Services, actor: OperatorActor | VisitorActor, *, parks: bool
) -> Callable[[], None] | None:
    """A signed-in operator's stream that may park (SSE, a long-poll with a wait) is a
    console open: they count as connected (ADR 0015) until the returned hook is
    called as it ends. API tokens are integrations, not people at a console."""
    if not parks or not isinstance(actor, OperatorActor) or actor.session_id is None:
        return None
    presence = services.operator_presence
    arriving = actor.operator_id not in presence.connected()
    presence.opened(actor.operator_id)
    if arriving:  # not a reconnect within the grace: what waited for them may be theirs
        sweep_for(services, actor.operator_id)
    return partial(presence.closed, actor.operator_id)


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        first()
        second()

    return both


def _presence(
    services: Services, actor: VisitorActor, release: Callable[[], None]
) -> tuple[Callable[[], None], Callable[[], None]]:
    """With email on, a visitor's stream marks them here: now, at heartbeats, and as it
    closes (``web/visitor_presence.py``); returns the stream's heartbeat and close hooks.
    A mark is rationed in memory (one write per visitor and interval), so a heartbeat
    still reads nothing."""
    presence = services.presence
    presence.seen(actor.visitor_id)
    heartbeat = partial(presence.seen, actor.visitor_id)

    def closed() -> None:
        release()
        presence.seen(actor.visitor_id, now_or_never=True)

    return heartbeat, closed


def _take_stream_slot(services: Services, actor: OperatorActor | VisitorActor) -> str:
    """Count one more open stream (SSE or long-poll) for the caller; 429 over the cap."""
    principal = str(actor.principal)
    settings = services.settings
    visitor = isinstance(actor, VisitorActor)
    cap = settings.max_streams_visitor if visitor else settings.max_streams_operator
    if not services.stream_slots.acquire(principal, cap):
        services.limiter.rejections += 1
        raise RateLimitExceeded(
            cap,
            STREAM_RETRY_SECONDS,
            f"Too many open event streams: a {'visitor' if visitor else 'caller'} may hold "
            f"{cap} at once. Close one, or retry in {STREAM_RETRY_SECONDS} seconds.",
        )
    return principal


async def publish_typing(
    services: Services,
    actor: OperatorActor | VisitorActor,
    conversation: Any,
    *,
    private: bool = False,
    author_name: str | None = None,
) -> None:
    """Tell the other side someone is typing; never stored, delivered to parked listeners."""
    # The site's operators always; the visitor only for an operator's public reply.
    shown_to: str | None = None
    author: Author
    if isinstance(actor, VisitorActor):
        author = {"type": "visitor", "id": actor.visitor_id, "name": author_name}
    else:
        if actor.is_bot:
            author = {"type": "bot", "id": actor.api_token_id, "name": actor.name}
        else:
            author = {"type": "operator", "id": actor.operator_id, "name": actor.name}
        if not private:
            shown_to = conversation.visitor_id
    event = typing_shape(conversation.id, author, private=private, created_at=services.clock())
    await services.hub.publish_ephemeral(event_keys(conversation.site_id, shown_to), event)
