"""Pure-ASGI middleware: request id + access log, body size limit, security headers.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass straight through.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatdesk.ids import random_bytes
from chatdesk.metrics import Metrics

__all__ = ["BodyLimitMiddleware", "RequestLogMiddleware", "SecurityHeadersMiddleware"]

_log = structlog.get_logger("chatdesk.request")
_DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'"
# FastAPI's Swagger UI page loads its bundle from jsDelivr and starts it with an inline script.
_DOCS_CSP = (
    b"default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    b"style-src https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


class RequestLogMiddleware:
    """One log line per request: id, method, route, status, duration, principal."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else random_bytes(16).hex()
        started = time.perf_counter()
        status = 500
        scope.setdefault("state", {})

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None)
            elapsed = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.observe_request(scope["method"], route or "unmatched", status, elapsed)
            _log.info(
                "request",
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                principal=scope["state"].get("principal"),
            )


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while streaming in.

    Also refuses NUL bytes in the path or query (400): no layer below should see them.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            for message in _json_error(400, "bad_request", "NUL bytes are not allowed."):
                await send(message)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        for message in _json_error(413, "payload_too_large", "The request body is too large."):
            await send(message)


class _TooLarge(HTTPException):
    """Raised from ``receive``. An HTTPException, so FastAPI's body parsing re-raises it
    as is (any other exception there becomes a 400) and the error handler renders 413."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


class SecurityHeadersMiddleware:
    """Headers every response gets; surfaces that need their own (console CSP, widget frame,
    loader script) set them on the response and this middleware leaves those alone."""

    def __init__(self, app: ASGIApp, *, production: bool, hsts_subdomains: bool = False) -> None:
        self.app = app
        self.base: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (
                b"permissions-policy",
                b"camera=(), microphone=(), geolocation=(), payment=(), usb=()",
            ),
        ]
        if production:
            value = b"max-age=63072000" + (b"; includeSubDomains" if hsts_subdomains else b"")
            self.base.append((b"strict-transport-security", value))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith("/api/")
        default_csp = _DOCS_CSP if scope["path"] == "/api/docs" else _DEFAULT_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in self.base:
                    if name not in present:
                        headers.append((name, value))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", default_csp))
                    if b"x-frame-options" not in present:
                        headers.append((b"x-frame-options", b"DENY"))
                if is_api and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
