"""The pure-ASGI edge of the app: request id + access log, slow-request log, body size
limit, security headers, compression (web/compression.py).

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass straight through.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatdesk.avatars import AVATAR_PATH
from chatdesk.ids import random_bytes
from chatdesk.logs import get_logger
from chatdesk.metrics import Metrics
from chatdesk.web.compression import Compression, add_vary

__all__ = ["EdgeMiddleware"]

_log = get_logger("chatdesk.request")
_stdlib_log = logging.getLogger("chatdesk.request")
_DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Static files that are never a document: scripts, style sheets, JSON (the widget's
# catalogs). A document's headers (CSP, framing, referrer and permissions policies) do
# nothing on them, and a first open pays ~300 B for them per file (ADR 0028).
_SUBRESOURCE_TYPES = (b"text/javascript", b"text/css", b"application/json")


def _json_error(status: int, code: str, message: str) -> tuple[Message, Message]:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class EdgeMiddleware:
    """Everything every HTTP request passes through, in one pure-ASGI layer (one
    wrapper per request instead of one per concern):

    - a request id (``X-Request-ID``, taken from the client when well-formed) and one
      log line per request: id, method, route, status, duration, principal; plus the
      request metrics; a request slower than ``slow_request_ms`` (0: never) logs a
      ``slow_request`` warning with its timing breakdown;
    - the body limit: over ``max_bytes`` (``upload_bytes`` for an upload) is refused
      with 413, by Content-Length before anything is read, or while streaming in;
      NUL bytes in the path or query with 400;
    - the headers every response gets. Surfaces that need their own (console CSP,
      widget frame, loader script) set them on the response and are left alone. A
      static script, style sheet or JSON file (never a document) gets only
      ``nosniff`` (and HSTS in production): ``subresource`` below;
    - gzip or brotli for the responses web/compression.py allows, when the client
      offers it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        production: bool,
        upload_bytes: int | None = None,
        hsts_subdomains: bool = False,
        metrics: Metrics | None = None,
        slow_request_ms: int = 0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # An upload (a POST to a path ending in /attachments) may be larger.
        self.upload_bytes = max(upload_bytes or max_bytes, max_bytes)
        self.metrics = metrics
        self.slow_seconds = slow_request_ms / 1000 if slow_request_ms > 0 else math.inf
        self.compression = Compression()
        nosniff = (b"x-content-type-options", b"nosniff")
        self.base: list[tuple[bytes, bytes]] = [
            nosniff,
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (
                b"permissions-policy",
                b"camera=(), microphone=(), geolocation=(), payment=(), usb=()",
            ),
        ]
        if production:
            value = b"max-age=63072000" + (b"; includeSubDomains" if hsts_subdomains else b"")
            self.base.append((b"strict-transport-security", value))
        self.subresource = [nosniff, *self.base[3:]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self, scope, receive, send)
        try:
            refusal = exchange.refusal
            if refusal is not None:
                await _send_error(exchange.send, *refusal)
            else:
                try:
                    await self.app(scope, exchange.receive, exchange.send)
                except _TooLarge:
                    if not exchange.response_started:
                        await _send_error(exchange.send, *_TOO_LARGE)
        finally:
            exchange.finish(scope)


class _Exchange:
    """One request's passage through the edge: its ``send`` (headers added to the
    response's start, compression) and ``receive`` (the body's size counted), and what
    its log line needs. A parked events request holds one for its whole wait, so its
    state is in slots rather than in a frame's cells and closures."""

    __slots__ = (
        "_receive",
        "_send",
        "edge",
        "encoding",
        "is_api",
        "is_static",
        "max_bytes",
        "path",
        "received",
        "refusal",
        "request_id",
        "responded_at",
        "response_started",
        "send_body",
        "started_at",
        "status",
    )

    def __init__(self, edge: EdgeMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
        self.edge = edge
        self.started_at = time.perf_counter()
        self._receive, self._send, self.send_body = receive, send, send
        headers = dict(scope.get("headers") or [])  # dropped here: a parked request keeps none
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        self.request_id = incoming if _REQUEST_ID.match(incoming) else random_bytes(16).hex()
        path = self.path = scope["path"]
        self.is_api = path.startswith("/api/")
        self.is_static = path.startswith("/static/")
        scope.setdefault("state", {})
        self.encoding = (
            edge.compression.encoding(headers.get(b"accept-encoding"))
            if scope["method"] != "HEAD"
            else None
        )
        self.status = 500
        self.response_started = False
        self.responded_at = 0.0
        self.received = 0
        self.max_bytes = edge.max_bytes
        if (scope["method"] == "POST" and path.endswith("/attachments")) or (
            scope["method"] == "PUT" and path == AVATAR_PATH
        ):
            self.max_bytes = edge.upload_bytes
        # What is refused before the app sees it: NUL bytes, a body declared too large.
        self.refusal: tuple[int, str, str] | None = None
        query = scope.get("query_string", b"").lower()
        declared = headers.get(b"content-length")
        if "\x00" in path or b"%00" in query or b"\x00" in query:
            self.refusal = (400, "bad_request", "NUL bytes are not allowed.")
        elif declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            self.refusal = _TOO_LARGE

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start(message)
            if self.send_body is not self._send:
                return  # compressed: sent with the body
        await self.send_body(message)

    def _start(self, message: Message) -> None:
        edge = self.edge
        status = self.status = message["status"]
        self.response_started = True
        self.responded_at = time.perf_counter()  # splits a slow request's time in two
        out: list[Any] = list(message.get("headers", []))
        present = {name.lower() for name, _ in out}
        lean = self.is_static and status in (200, 304) and _subresource(out)
        for name, value in edge.subresource if lean else edge.base:
            if name not in present:
                out.append((name, value))
        if not lean and b"content-security-policy" not in present:
            out.append((b"content-security-policy", _DEFAULT_CSP))
            if b"x-frame-options" not in present:
                out.append((b"x-frame-options", b"DENY"))
        if self.is_api and b"cache-control" not in present:
            out.append((b"cache-control", b"no-store"))
        out.append((b"x-request-id", self.request_id.encode()))
        message["headers"] = out
        kind = edge.compression.kind(self.path, status, out)
        if kind is not None:
            add_vary(out)
            if self.encoding is not None:
                self.send_body = edge.compression.sender(
                    self._send, message, kind, self.encoding, self.path
                )

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                raise _TooLarge()
        return message

    def finish(self, scope: Scope) -> None:
        """The request's metrics and log lines, as it ends."""
        edge, method, status = self.edge, scope["method"], self.status
        route = getattr(scope.get("route"), "path", None)
        elapsed = time.perf_counter() - self.started_at
        if edge.metrics is not None:
            edge.metrics.observe_request(method, route or "unmatched", status, elapsed)
        if _stdlib_log.isEnabledFor(logging.INFO):  # cached by logging; skips the work
            _log.info(
                "request",
                request_id=self.request_id,
                method=scope["method"],
                path=self.path,
                route=route,
                status=self.status,
                duration_ms=round(elapsed * 1000, 2),
                principal=scope["state"].get("principal"),
            )
        if elapsed > edge.slow_seconds:  # all a fast request pays for the slow log
            _log_slow(
                scope,
                self.request_id,
                route,
                self.status,
                self.started_at,
                self.responded_at,
                elapsed,
            )


def _subresource(headers: list[Any]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return bool(value.startswith(_SUBRESOURCE_TYPES))
    return False


def _log_slow(
    scope: Scope,
    request_id: str,
    route: str | None,
    status: int,
    started_at: float,
    responded_at: float,
    elapsed: float,
) -> None:
    """One line for a slow request: where its time went, and how busy the writer was.

    ``app_ms`` runs until the response began (reading the body, the handler, its
    database reads and writer waits); ``send_ms`` is the rest (a slow client or a large
    body). ``write_queue`` is the writer's backlog as the request ended: a long queue
    points at the writer, a short one at the handler or the client.
    """
    if route is not None and route.endswith("/events"):
        return  # long-polls and streams are long on purpose
    app_seconds = (responded_at or started_at + elapsed) - started_at
    services = getattr(getattr(scope.get("app"), "state", None), "services", None)
    _log.warning(
        "slow_request",
        request_id=request_id,
        method=scope["method"],
        path=scope["path"],
        route=route,
        status=status,
        duration_ms=round(elapsed * 1000, 2),
        app_ms=round(app_seconds * 1000, 2),
        send_ms=round((elapsed - app_seconds) * 1000, 2),
        write_queue=services.db.queued if services is not None else None,
    )


_TOO_LARGE = (413, "payload_too_large", "The request body is too large.")


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    for part in _json_error(status, code, message):
        await send(part)


class _TooLarge(HTTPException):
    """Raised from ``receive``. An HTTPException, so FastAPI's body parsing re-raises it
    as is (any other exception there becomes a 400) and the error handler renders 413."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")
