"""What a route answers, as ``/openapi.json`` tells it: the JSON body of each success
status and the error envelope for the others (ADR 0009).

The shapes are declared for the schema only: ``response_model=Any`` keeps FastAPI
from validating every response against them, so a body is serialised exactly as
before, at the same cost; mypy checks where shapes are built and the test suite
checks real responses against the schema.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from chatdesk.shape_types import ErrorEnvelope

__all__ = ["SSE", "answers"]

_CODES = {
    400: "`bad_request`",
    401: "`unauthorized`",
    403: "`forbidden`",
    404: "`not_found`",
    409: "`conflict`",
    410: "`cursor_expired`: refetch over REST and continue from a fresh head",
    413: "`payload_too_large`",
    422: "`validation_error`",
    429: "`rate_limited`, with `Retry-After`",
    503: "`unavailable`",
}

# The events endpoints' other answer, with ``Accept: text/event-stream``.
SSE = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": "Server-Sent Events: `id: <id>`, `event: <type>`, "
            "`data: <Event as JSON>` per event; `: ping` heartbeats (docs/api.md).",
        }
    }
}


def answers(
    model: Any,
    *errors: int,
    status: int = 200,
    also: int | None = None,
    content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Route arguments declaring ``model`` as the JSON body of ``status`` (and of
    ``also``, e.g. an idempotent repeat's 200), and the error envelope for each of
    ``errors`` and any other status. ``model=None``: no JSON body (a 204, or another
    media type). ``content`` adds other media types to ``status``."""
    success: dict[str, Any] = {"description": HTTPStatus(status).phrase}
    if model is not None:
        success["model"] = model
    if content:
        success["content"] = content
    responses: dict[int | str, dict[str, Any]] = {status: success}
    if also is not None:
        responses[also] = {"model": model, "description": HTTPStatus(also).phrase}
    for code in errors:
        phrase = HTTPStatus(code).phrase
        responses[code] = {"model": ErrorEnvelope, "description": f"{phrase}: {_CODES[code]}"}
    responses["default"] = {"model": ErrorEnvelope, "description": "Any other error"}
    if model is None:
        return {"responses": responses}
    return {"response_model": Any, "responses": responses}
