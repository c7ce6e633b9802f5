"""``create_app(settings)``: the one place where chatdesk is wired together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from chatdesk import __version__
from chatdesk.bootstrap import ensure_schema
from chatdesk.clock import Clock, system_clock
from chatdesk.db.runner import Database
from chatdesk.logs import configure_logging
from chatdesk.queries.events import EventLogReader
from chatdesk.realtime.bus import make_bus
from chatdesk.realtime.hub import Hub
from chatdesk.runtime import Services
from chatdesk.security.rate_limits import Limiter
from chatdesk.settings import Settings
from chatdesk.web import (
    admin_api,
    api_docs,
    auth_api,
    console_api,
    console_pages,
    health,
    widget_api,
    widget_pages,
)
from chatdesk.web.errors import install_error_handlers
from chatdesk.web.middleware import EdgeMiddleware

__all__ = ["ChatdeskApp", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"


class ChatdeskApp(FastAPI):
    """FastAPI, plus a direct lane for the busiest routes (ADR 0005).

    A request matching one of ``fast_routes`` goes through ``fast_lane`` (the same
    edge middleware every request passes) straight to the route, with the app's
    exception handlers, skipping FastAPI's middleware layers and router. Every
    other request takes the normal path.
    """

    fast_routes: list[Route]
    fast_lane: ASGIApp | None = None
    _lane_handlers: tuple[dict[Any, Any], dict[int, Any]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # HEAD stays on the normal path: FastAPI's GET routes answer it with 405.
        if self.fast_lane is not None and scope["type"] == "http" and scope["method"] != "HEAD":
            for route in self.fast_routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    scope["app"] = self
                    scope["route"] = route
                    scope["starlette.exception_handlers"] = self._handlers()
                    await self.fast_lane(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    def _handlers(self) -> tuple[dict[Any, Any], dict[int, Any]]:
        """The app's exception handlers as Starlette's exception middleware holds them
        (by class, and by status code), the 500 one included."""
        if self._lane_handlers is None:
            by_class = {k: v for k, v in self.exception_handlers.items() if not isinstance(k, int)}
            by_status = {k: v for k, v in self.exception_handlers.items() if isinstance(k, int)}
            self._lane_handlers = (by_class, by_status)
        return self._lane_handlers


async def _handle_matched_route(scope: Scope, receive: Receive, send: Send) -> None:
    await scope["route"].handle(scope, receive, send)


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
    )
    services.metrics.watch(services)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ensure_schema(db.write_engine, auto=settings.is_sqlite)
        db.start(asyncio.get_running_loop())
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await services.limiter.close()
            db.stop()

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
    for module in (widget_api, console_api, auth_api, admin_api, health):
        app.include_router(module.router)
    app.include_router(console_pages.router, include_in_schema=False)
    app.include_router(widget_pages.router, include_in_schema=False)
    if settings.api_docs_on:
        app.add_route(api_docs.DOCS_PATH, api_docs.page, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    edge: dict[str, Any] = {
        "max_bytes": settings.max_body_bytes,
        "production": settings.is_production,
        "hsts_subdomains": settings.hsts_include_subdomains,
        "metrics": services.metrics,
        "slow_request_ms": settings.slow_request_ms,
    }
    app.add_middleware(EdgeMiddleware, **edge)
    # The widget's message POST takes the direct lane (ADR 0005), through the same edge.
    app.fast_routes = widget_api.fast_routes()
    app.fast_lane = EdgeMiddleware(_handle_matched_route, **edge)
    return app
