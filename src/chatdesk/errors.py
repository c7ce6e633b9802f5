"""One error family with machine-readable codes; rendered to JSON in one place (web/errors.py)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "ChatdeskError",
    "Conflict",
    "CursorExpired",
    "DatabaseUnavailable",
    "Forbidden",
    "Gone",
    "LogoutTokenInvalid",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "TokenInvalid",
    "TotpRequired",
    "TotpSetupRequired",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "WriterUnavailable",
]


class ChatdeskError(Exception):
    """Base of every error chatdesk raises on purpose; ``code`` and ``status`` reach the client."""

    code = "internal_error"
    status = 500
    default_message = "Something went wrong on our side."

    def __init__(self, message: str | None = None, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class BadRequest(ChatdeskError):
    code, status, default_message = "bad_request", 400, "The request could not be understood."


class TokenInvalid(BadRequest):
    """A password link that is unknown, already used or expired: one answer for all
    three, so the answer tells nothing about which links exist (ADR 0023)."""

    code = "token_invalid"
    default_message = "This link is no longer valid: ask for a new one."


class LogoutTokenInvalid(BadRequest):
    """A back-channel logout token that does not verify: one answer for every reason
    (the log says which)."""

    code = "logout_token_invalid"
    default_message = "The logout token is not valid."


class ValidationFailed(ChatdeskError):
    code, status, default_message = "validation_error", 422, "The request is not valid."


class Unauthorized(ChatdeskError):
    code, status, default_message = "unauthorized", 401, "Authentication is required."


class TotpRequired(Unauthorized):
    """The password was right, but the operator has two-factor sign-in on and sent no
    authentication code or a wrong one: the same answer for both (ADR 0022)."""

    code, default_message = "totp_required", "Enter the authentication code from your app."


class Forbidden(ChatdeskError):
    code, status, default_message = "forbidden", 403, "You are not allowed to do this."


class TotpSetupRequired(Forbidden):
    """An owner requires two-factor sign-in and this operator has not turned it on: the
    session may only set it up, read "me" and sign out until they do (ADR 0030)."""

    code = "totp_setup_required"
    default_message = (
        "Two-factor authentication is required here: set it up under Account to continue."
    )


class NotFound(ChatdeskError):
    code, status, default_message = "not_found", 404, "Not found."


class Conflict(ChatdeskError):
    code, status, default_message = "conflict", 409, "This conflicts with the current state."


class CursorExpired(ChatdeskError):
    code, status = "cursor_expired", 410
    default_message = "This cursor is older than the events the server keeps; refetch and resume."


class Gone(ChatdeskError):
    code, status, default_message = "gone", 410, "This is no longer available."


class PayloadTooLarge(ChatdeskError):
    code, status, default_message = "payload_too_large", 413, "The request body is too large."


class RateLimited(ChatdeskError):
    code, status, default_message = "rate_limited", 429, "Too many requests; slow down."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, {"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(ChatdeskError):
    """503 with ``Retry-After``: a dependency is down for now; the same request may succeed
    once it is back."""

    code, status = "unavailable", 503
    default_message = "The service is unavailable for a moment; retry the request."
    retry_after = 1

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(message, {"retry_after": self.retry_after})


class WriterUnavailable(Unavailable):
    default_message = "The database writer restarted before answering; retry the request."


class DatabaseUnavailable(Unavailable):
    """The database cannot do the request now (unreachable, disk full, read-only, locked);
    ``cause`` names which, for the log and readiness (clients see the message only)."""

    retry_after = 5
    MESSAGES = {
        "unreachable": "The database cannot be reached right now; retry shortly.",
        "disk_full": "The server cannot store anything right now; retry shortly.",
        "read_only": "The server cannot store anything right now; retry shortly.",
        "busy": "The database is busy; retry shortly.",
    }

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(self.MESSAGES.get(cause))

    def __reduce__(self) -> tuple[type[DatabaseUnavailable], tuple[str]]:
        return type(self), (self.cause,)
