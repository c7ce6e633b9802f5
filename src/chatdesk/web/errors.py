"""Rendering every error as the API.md envelope: ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatdesk.errors import BadRequest, ChatdeskError, NotFound, Unavailable, ValidationFailed
from chatdesk.security.rate_limits import RateLimitExceeded
from chatdesk.shape_types import ErrorEnvelope

__all__ = ["error_response", "install_error_handlers"]

_log = logging.getLogger("chatdesk.web")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def error_response(error: ChatdeskError, headers: dict[str, str] | None = None) -> JSONResponse:
    body: ErrorEnvelope = {
        "error": {"code": error.code, "message": error.message, "details": error.details}
    }
    return JSONResponse(body, status_code=error.status, headers=headers)


# What a pattern means, in words, by the field it guards (pydantic would say only
# "String should match pattern '^[a-z0-9_-]{1,50}$'").
_PATTERN_WORDS = {
    "shortcut": "Use 1 to 50 lowercase letters, digits, hyphens (-) or underscores (_).",
    "accent_color": "Use a colour written like #2563eb.",
    "client_msg_id": "Use letters, digits and . _ : - only.",
    "action": "Use lowercase letters, dots and underscores only.",
}
_TYPE_WORDS = {
    "missing": "This is required.",
    "extra_forbidden": "This field is not known here.",
    "string_type": "Must be text.",
    "int_type": "Must be a whole number.",
    "int_parsing": "Must be a whole number.",
    "bool_type": "Must be true or false.",
    "bool_parsing": "Must be true or false.",
    "list_type": "Must be a list.",
    "dict_type": "Must be an object.",
    "model_type": "Must be an object.",
    "json_type": "Must be JSON.",
}


def _plural(count: Any, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _in_words(item: Any) -> str:
    """A validation error as a sentence a person understands, without the input."""
    kind = str(item.get("type", ""))
    ctx = item.get("ctx") or {}
    loc = [str(part) for part in item.get("loc", ())]
    name = loc[-1] if loc else ""
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return (
            "This cannot be empty."
            if least == 1
            else f"Use at least {_plural(least, 'character')}."
        )
    if kind == "string_too_long":
        return f"Use at most {_plural(ctx.get('max_length'), 'character')}."
    if kind == "too_short":
        return f"Give at least {_plural(ctx.get('min_length'), 'item')}."
    if kind == "too_long":
        return f"Give at most {_plural(ctx.get('max_length'), 'item')}."
    if kind == "string_pattern_mismatch":
        return _PATTERN_WORDS.get(name, "This contains characters that are not allowed here.")
    if kind in ("greater_than_equal", "greater_than"):
        return f"Must be at least {ctx.get('ge', ctx.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"Must be at most {ctx.get('le', ctx.get('lt'))}."
    if kind in ("literal_error", "enum"):
        return f"Choose one of: {ctx.get('expected', '')}.".replace("'", "")
    message = str(item.get("msg", ""))
    # Our own validators' messages are written for people already.
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    details = []
    for item in errors:
        # Never echo the input back: it may be a password.
        words = _in_words(item)
        details.append(
            {
                "loc": [str(part) for part in item.get("loc", ())],
                "msg": words[:1].upper() + words[1:],
                "type": str(item.get("type", "")),
            }
        )
    return details


async def _on_chatdesk_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ChatdeskError)
    headers = None
    if isinstance(exc, RateLimitExceeded):
        headers = {
            "Retry-After": str(exc.reset),
            "RateLimit-Limit": str(exc.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(exc.reset),
        }
    elif isinstance(exc, Unavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc, headers)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(BadRequest("The body is not valid JSON."))
    return error_response(ValidationFailed(details=_validation_details(errors)))


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(NotFound())
    error = ChatdeskError(str(exc.detail) if exc.detail else None)
    error.status = exc.status_code
    error.code = _STATUS_CODES.get(
        exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error"
    )
    return error_response(error, dict(exc.headers) if exc.headers else None)


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    _log.error("unhandled error", exc_info=exc)
    return error_response(ChatdeskError())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ChatdeskError, _on_chatdesk_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
