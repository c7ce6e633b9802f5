"""``create_app(settings)``: the one place where chatdesk is wired together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Route
from starlette.types import Scope

from chatdesk import __version__
from chatdesk.bootstrap import ensure_schema
from chatdesk.clock import Clock, system_clock
from chatdesk.db.runner import Database
from chatdesk.logs import configure_logging
from chatdesk.realtime.bus import make_bus
from chatdesk.realtime.hub import Hub
from chatdesk.runtime import Services
from chatdesk.security.rate_limits import Limiter
from chatdesk.settings import Settings
from chatdesk.web import (
    admin_api,
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
    """FastAPI, with a direct lane for the busiest routes (ADR 0005).

    ``fast_routes`` are plain Starlette routes placed first in the app's router, so
    they are matched before anything else and skip FastAPI's routing, dependency and
    body machinery; every request, on the lane or not, passes through the one
    middleware stack (the edge, the exception handlers, and any middleware added
    later).
    """

    fast_routes: list[Route]


class _LaneRoute(Route):
    """A route of the direct lane: a plain Starlette route that answers as FastAPI's
    route for the same function does, and is logged and counted under its path."""

    def __init__(self, route: Route) -> None:
        # Starlette adds HEAD to a GET route; FastAPI's GET routes answer HEAD with 405,
        # so HEAD is left out here (and the router answers it, as it would on FastAPI's).
        super().__init__(route.path, route.endpoint, methods=route.methods, name=route.name)
        if self.methods is not None:
            self.methods.discard("HEAD")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # FastAPI's router names the matched route in the scope only for its own routes;
        # the edge reads it for the access log and the request metrics.
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


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
        db,
        make_bus(settings.redis_url, settings.database_url),
        poll_seconds=settings.event_poll_seconds,
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
    )
    services.metrics.watch(services)
    services.hub.on_invalidate.append(lambda _msg: services.visitor_cache.clear())

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
        docs_url="/api/docs",
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
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        EdgeMiddleware,
        max_bytes=settings.max_body_bytes,
        production=settings.is_production,
        hsts_subdomains=settings.hsts_include_subdomains,
        metrics=services.metrics,
    )
    # The widget's message POST and events GET take the direct lane (ADR 0005): first
    # in the router, behind the same middleware as every other route.
    app.fast_routes = [_LaneRoute(route) for route in widget_api.fast_routes()]
    app.router.routes[0:0] = app.fast_routes
    return app
