"""``create_app(settings)``: the one place where chatdesk is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from chatdesk import __version__
from chatdesk.actions.retention import Expired, expire_inactive
from chatdesk.actions.snooze import next_wake, wake_due
from chatdesk.bootstrap import ensure_schema
from chatdesk.clock import Clock, system_clock
from chatdesk.db.runner import Database
from chatdesk.jobs.scheduler import Chore
from chatdesk.jobs.transport import WebhookClient
from chatdesk.jobs.webhooks import WebhookSender
from chatdesk.jobs.worker import Worker
from chatdesk.logs import configure_logging
from chatdesk.queries.events import EventLogReader
from chatdesk.queries.operators import away_operator_ids
from chatdesk.realtime.bus import make_bus
from chatdesk.realtime.hub import Hub
from chatdesk.realtime.operator_presence import OperatorPresence
from chatdesk.runtime import VISITOR_SESSIONS, Services
from chatdesk.security.rate_limits import Limiter
from chatdesk.security.signing import FileLinks
from chatdesk.settings import Settings
from chatdesk.storage.base import FileStore
from chatdesk.storage.stores import open_store
from chatdesk.web import (
    admin_api,
    api_docs,
    attachments_api,
    auth_api,
    avatars_api,
    blocks_api,
    console_api,
    console_pages,
    email_pages,
    emails_api,
    health,
    oidc_api,
    passkeys_api,
    password_reset_api,
    reports_api,
    security_policy_api,
    sessions_api,
    totp_api,
    visitors_api,
    webhooks_api,
    widget_api,
    widget_pages,
)
from chatdesk.web.assets import VersionedStatic
from chatdesk.web.errors import install_error_handlers
from chatdesk.web.middleware import EdgeMiddleware
from chatdesk.web.visitor_presence import VisitorPresence

__all__ = ["ChatdeskApp", "DirectLane", "create_app"]

_log = logging.getLogger("chatdesk.app")


# Layers FastAPI puts between its 500 handler and the app's own middleware that do
# nothing here: OpenTelemetry's exception hook (no tracer is set up) and a body limit
# (none is set; the edge bounds bodies). Each is a frame held by every parked request.
_PASS_THROUGH = frozenset({"ExceptionTelemetryMiddleware", "AppBodyLimitMiddleware"})


class ChatdeskApp(FastAPI):
    """FastAPI, with a direct lane for its busiest routes, ``fast_routes`` (ADR 0005):
    see :class:`DirectLane`."""

    fast_routes: list[Route]

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack without the layers in ``_PASS_THROUGH`` (only while they
        would pass every request through: no body limit set)."""
        stack = super().build_middleware_stack()
        if self.max_body_size is not None:
            return stack
        outer: Any = stack
        while type(inner := outer.app).__name__ in _PASS_THROUGH:
            outer.app = inner.app
        return stack


class DirectLane:
    """The direct lane (ADR 0005): a small router, the innermost of the app's middleware.

    Every request has passed the whole middleware stack when it gets here: FastAPI's
    outer layers (the 500 handler among them), anything added with ``add_middleware``,
    and the edge. A request that one of ``routes`` matches fully is served here, with
    the app's exception handlers, skipping FastAPI's exception middleware, router and
    dependency solving; any other request goes on to them. ``routes`` is read on every
    request, so emptying the list turns the lane off.
    """

    def __init__(self, app: ASGIApp, *, routes: list[Route], handlers: Mapping[Any, Any]) -> None:
        self.app = app
        self.routes = routes
        # Held as FastAPI's exception middleware holds them (by class, by status code),
        # read when the stack is built, as it reads them; the 500 handler stays outermost.
        # Each is a coroutine function (``web.errors``).
        self.handlers: tuple[dict[Any, Any], dict[Any, Any]] = (
            {k: v for k, v in handlers.items() if not isinstance(k, int) and k is not Exception},
            {k: v for k, v in handlers.items() if isinstance(k, int) and k != 500},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request one of the routes matches: its endpoint called and its response
        sent; an error the endpoint raises is answered by the app's handler for it, as
        Starlette's route would (``request_response``), without the layers that route
        adds: a parked events request holds this frame, and every layer is memory per
        parked listener. An error while the response is sent (it has begun) goes up to
        the 500 handler, as there. Any other request goes on to the app."""
        route = self._match(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> Route | None:
        if scope["type"] == "http":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    scope["route"] = route  # for the edge's access log and metrics
                    return route
        return None

    def _handler_for(self, exc: Exception) -> Any:
        by_class, by_status = self.handlers
        if isinstance(exc, HTTPException) and exc.status_code in by_status:
            return by_status[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in by_class:
                return by_class[cls]
        return None


def _without_head(route: Route) -> Route:
    """Starlette adds HEAD to a GET route; FastAPI's GET routes answer HEAD with 405, so
    the lane leaves HEAD to them."""
    if route.methods is not None:
        route.methods.discard("HEAD")
    return route


def _chores(settings: Settings, files: FileStore) -> tuple[Chore, ...]:
    """The scheduler's periodic work: retention, when ``CHATDESK_RETENTION_DAYS`` is set."""
    if settings.retention_days is None:
        return ()

    async def after(expired: Expired) -> tuple[int, bool]:
        if expired.keys:
            # The rows are gone; a file left now is an orphan ``chatdesk purge`` removes.
            with contextlib.suppress(Exception):
                await files.delete(expired.keys)
        return expired.conversations + expired.visitors, expired.more

    return (
        Chore(
            "retention",
            settings.retention_check_seconds,
            expire_inactive,
            (settings.retention_days,),
            after,
        ),
    )


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> ChatdeskApp:
    """A new, independent chatdesk ASGI app; nothing is opened until its lifespan starts."""
    settings = settings or Settings()
    problems = settings.production_problems()
    if problems:
        raise SystemExit("chatdesk refuses to start:\n- " + "\n- ".join(problems))
    configure_logging(settings.log_format, settings.log_level, settings.is_production)
    db = Database(
        settings.database_url,
        read_threads=settings.read_threads,
        batch_max=settings.write_batch_max,
        clock=clock,
        writer="process" if settings.sqlite_writer == "process" else "thread",
        log_config=(settings.log_format, settings.log_level, settings.is_production),
    )
    hub = Hub(
        make_bus(settings.redis_url, settings.database_url),
        EventLogReader(db),
        poll_seconds=settings.event_poll_seconds,
    )
    db.on_commit = hub.committed  # wake-ups are published once the data is committed
    files = open_store(settings)
    # Timed work: snoozed conversations woken at their time, and retention (jobs/scheduler.py).
    worker = Worker(
        db, settings, clock, timed=(wake_due, next_wake), chores=_chores(settings, files)
    )
    worker.register(
        WebhookSender(
            WebhookClient(
                allow_private=settings.webhook_allow_private,
                timeout=settings.webhook_timeout_seconds,
                max_connections=settings.job_concurrency,
            ),
            clock,
        )
    )
    if settings.email_enabled:  # only where email is configured: aiosmtplib, the templates
        from chatdesk.jobs.email import EmailSender

        worker.register(EmailSender(settings, db, clock=clock))
    # The worker hears of every new event the hub learns of, to dispatch webhooks.
    hub.watchers.append(worker.saw_event)
    operator_presence = OperatorPresence(
        hub,
        clock,
        lambda: db.read(away_operator_ids),
        grace=settings.presence_grace_seconds,
        announce=settings.presence_announce_seconds,
    )
    services = Services(
        settings=settings,
        db=db,
        hub=hub,
        clock=clock,
        limiter=Limiter(
            settings.rate_limit_specs(),
            enabled=settings.rate_limits == "on",
            redis_url=settings.redis_url,
        ),
        trusted_proxies=tuple(settings.trusted_proxies),
        worker=worker,
        operator_presence=operator_presence,
        files=files,
        file_links=FileLinks(settings.secret_key.get_secret_value()),
    )
    services.metrics.watch(services)
    # Erased visitors' tokens are forgotten by every process (runtime.end_visitor_sessions).
    hub.on_bus(VISITOR_SESSIONS, services.forget_visitors)
    services.presence = VisitorPresence(db, settings.email_away)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ensure_schema(db.write_engine, auto=settings.is_sqlite)
        db.start(asyncio.get_running_loop())
        problem = db.storage_problem(settings.disk_min_free_mb * 1024 * 1024)
        if problem:  # the server starts (it can still read); /readyz fails meanwhile
            _log.error("%s (%s): writes answer 503 until it is fixed", problem, db.file_path)
        await hub.start()
        await operator_presence.start()
        inbound = None
        if settings.inbound_smtp_port is not None:
            from chatdesk.inbound.listener import InboundListener  # only where it is on

            inbound = InboundListener(settings, db, clock=clock)
            await inbound.start()
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()
            if inbound is not None:
                await inbound.stop()
            await operator_presence.stop()
            await hub.stop()
            await services.limiter.close()
            await services.files.aclose()
            await db.aclose()

    app = ChatdeskApp(
        title="chatdesk",
        version=__version__,
        description="Self-hosted live chat for websites. See docs/api.md.",
        docs_url=None,  # chatdesk serves its own page, from its own files (web/api_docs.py)
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        # chatdesk exports its own Prometheus metrics; FastAPI's OpenTelemetry hooks
        # would only cost time on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    install_error_handlers(app)
    # Routes are matched in order, one by one: the busiest (the widget's) go first.
    routers = (
        widget_api,
        console_api,
        auth_api,
        password_reset_api,
        avatars_api,
        totp_api,
        sessions_api,
        passkeys_api,
        security_policy_api,
        admin_api,
        blocks_api,
        webhooks_api,
        emails_api,
        attachments_api,
        visitors_api,
        reports_api,
        health,
    )
    for module in routers:
        app.include_router(module.router)
    app.include_router(totp_api.operators_router)
    app.include_router(sessions_api.operators_router)
    app.include_router(console_pages.router, include_in_schema=False)
    app.include_router(widget_pages.router, include_in_schema=False)
    app.include_router(email_pages.router, include_in_schema=False)
    app.include_router(oidc_api.router, include_in_schema=False)  # browser redirects
    if settings.api_docs_on:
        app.add_route(api_docs.DOCS_PATH, api_docs.page, include_in_schema=False)
    app.mount("/static", VersionedStatic(), name="static")  # ADR 0010
    # The widget's message POST and events GET take the direct lane, inside the edge
    # (add_middleware wraps what was added before: the lane is innermost).
    app.fast_routes = [_without_head(route) for route in widget_api.fast_routes()]
    app.add_middleware(DirectLane, routes=app.fast_routes, handlers=app.exception_handlers)
    app.add_middleware(
        EdgeMiddleware,
        max_bytes=settings.max_body_bytes,
        # An upload's body: the file and a few KiB of multipart framing.
        upload_bytes=settings.attachment_max_bytes + 16 * 1024,
        production=settings.is_production,
        hsts_subdomains=settings.hsts_include_subdomains,
        metrics=services.metrics,
        slow_request_ms=settings.slow_request_ms,
    )
    return app
