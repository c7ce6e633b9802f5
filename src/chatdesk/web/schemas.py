"""Request bodies: strict shapes (unknown fields refused) with limits on every string."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from starlette.datastructures import QueryParams

from chatdesk.business_hours import validate_hours
from chatdesk.shape_types import WebhookEventType
from chatdesk.widget_locales import valid_locale_setting, valid_strings

__all__ = [
    "ApiTokenIn",
    "BlockIn",
    "CannedResponseIn",
    "CannedResponsePatch",
    "ConversationPatch",
    "LoginIn",
    "MePatch",
    "NewConversationIn",
    "OperatorIn",
    "OperatorMessageIn",
    "OperatorPatch",
    "PasskeyLoginIn",
    "PasskeyPatch",
    "PasskeyRegisterIn",
    "PasswordChangeIn",
    "RatingIn",
    "ReadIn",
    "SiteIn",
    "SitePatch",
    "TemporaryPasswordIn",
    "TotpDisableIn",
    "TotpEnableIn",
    "TypingIn",
    "VisitorMessageIn",
    "VisitorPatch",
    "WebhookIn",
    "WebhookPatch",
    "WidgetSessionIn",
    "json_body_openapi",
    "query_openapi",
    "read_json",
    "read_query",
]

_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# An IANA time zone name's shape ("Europe/Paris", "America/Argentina/Buenos_Aires", "UTC",
# "Etc/GMT+5"): no dots, no leading slash, so only names inside the tz database are looked up.
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("is not an email address")
    return value


def _origin(value: str) -> str:
    value = value.strip().lower().rstrip("/")
    if not _ORIGIN.match(value):
        raise ValueError("must be an origin like https://shop.example.com (no path)")
    return value


def _page_url(value: str) -> str:
    # The page a visitor is on, shown to operators as a link: http(s) only, so a
    # javascript: or data: URL never reaches the console.
    parts = urlsplit(value) if not _CONTROL.search(value) else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _time_zone(value: str) -> str | None:
    if value == "Etc/Unknown":  # what browsers report when they cannot tell: no time zone
        return None
    if _ZONE.match(value):
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise ValueError("must be an IANA time zone name, like Europe/Paris")


def _label(value: str) -> str:
    value = value.strip().lower()
    if not re.fullmatch(r"[\w][\w .:-]{0,49}", value):
        raise ValueError("labels are 1-50 letters, digits, spaces, '.', ':', '_' or '-'")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
Email = Annotated[str, Field(max_length=320), AfterValidator(_no_nul), AfterValidator(_email)]
RATING_COMMENT_MAX = 2000
Body = Annotated[
    str, Field(min_length=1, max_length=10000), AfterValidator(_no_nul), AfterValidator(_not_blank)
]
# A message's text: may be empty when it carries attachments (``_MessageIn``).
MessageText = Annotated[str, Field(max_length=10000), AfterValidator(_no_nul)]
AttachmentIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=32)]], Field(max_length=10)
]
ClientMsgId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Origin = Annotated[str, Field(max_length=300), AfterValidator(_origin)]
Label = Annotated[str, Field(max_length=50), AfterValidator(_label)]
Role = Literal["owner", "admin", "agent"]
PrechatMode = Literal["off", "optional", "required"]
Password = Annotated[str, Field(min_length=10, max_length=1000), AfterValidator(_no_nul)]
PageUrl = Annotated[str, Field(max_length=2000), AfterValidator(_page_url)]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_time_zone)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class _Strict(BaseModel):
    # strict: JSON types as sent ("no" is not false, "1" is not true).
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=20000)

    @field_validator("*")
    @classmethod
    def _no_nul_anywhere(cls, value: Any) -> Any:
        # Every string, ids and lists included: PostgreSQL cannot store or compare NUL.
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class WidgetSessionIn(_Strict):
    site_key: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)]
    name: Name | None = None
    email: Email | None = None
    page_url: PageUrl | None = None
    timezone: TimeZone | None = None
    identity_token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class VisitorPatch(_Strict):
    name: Name | None = None
    email: Email | None = None
    page_url: PageUrl | None = None
    timezone: TimeZone | None = None


class NewConversationIn(_Strict):
    body: Body
    client_msg_id: ClientMsgId


class _MessageIn(_Strict):
    # Before ``body``: its check reads them (a message of files may have no text).
    attachment_ids: AttachmentIds = []
    body: MessageText
    client_msg_id: ClientMsgId

    @field_validator("body")
    @classmethod
    def _text_or_files(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip() and not info.data.get("attachment_ids"):
            raise ValueError("must not be empty (unless the message carries attachments)")
        return value


class VisitorMessageIn(_MessageIn):
    pass


class OperatorMessageIn(_MessageIn):
    private: bool = False


class TypingIn(_Strict):
    private: bool = False


def _rfc3339_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string with its offset")
    return value


# A time sent as RFC 3339 text with an offset (strict models take no text for datetimes).
Rfc3339 = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_rfc3339_text)]


class ConversationPatch(_Strict):
    status: Literal["open", "pending", "resolved", "snoozed"] | None = None
    # With status "snoozed" (required then): when it becomes "open" again (RFC 3339, with
    # its offset), in the future and within a year.
    snoozed_until: Rfc3339 | None = None
    assignee_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    labels: Annotated[list[Label], Field(max_length=20)] | None = None


class ReadIn(_Strict):
    """A read receipt: the newest message of the conversation the reader has seen."""

    message_id: Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_no_nul)]


class RatingIn(_Strict):
    """The visitor's rating of a resolved conversation: 1 (poor) to 5 (great)."""

    score: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=RATING_COMMENT_MAX)] | None = None


class LoginIn(_Strict):
    email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(_no_nul)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]
    # The authentication code of an operator with two-factor sign-in, or one of their
    # recovery codes (ADR 0022); empty counts as none.
    totp_code: Annotated[str, Field(max_length=64)] | None = None


class PasswordResetIn(_Strict):
    """Ask for a password link by email; any address is answered the same."""

    email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(_no_nul)]


class PasswordResetConfirmIn(_Strict):
    """The token of a password link (a reset or an invitation) and the new password."""

    token: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
    password: Password


class TotpEnableIn(_Strict):
    """The code the authenticator app shows for the secret of the pending setup."""

    code: Annotated[str, Field(min_length=1, max_length=64)]


class TotpDisableIn(_Strict):
    password: Annotated[str, Field(min_length=1, max_length=1000)]


def _own_name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= OWN_NAME_MAX:
        raise ValueError(
            f"name must be 1 to {OWN_NAME_MAX} characters long (spaces at either end do not count)"
        )
    return value


OWN_NAME_MAX = 100
OwnName = Annotated[str, Field(max_length=1000), AfterValidator(_no_nul), AfterValidator(_own_name)]


class MePatch(_Strict):
    """Your own profile: presence (``online`` or ``away``), the name colleagues and
    visitors see, and email notifications (``null`` minutes: no unanswered-conversation
    email). ``null`` for ``presence``, ``name`` or ``notify_mentions`` means no change."""

    presence: Literal["online", "away"] | None = None
    name: OwnName | None = None
    notify_unanswered_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    notify_mentions: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The fields sent, as the operators table's columns (``away`` for presence)."""
        sent = self.model_dump(include=self.model_fields_set)
        for key in ("notify_mentions", "name", "presence"):
            if key in sent and sent[key] is None:
                del sent[key]
        if "presence" in sent:
            sent["away"] = sent.pop("presence") == "away"
        return sent


class PasswordChangeIn(_Strict):
    current_password: Annotated[str, Field(min_length=1, max_length=1000)]
    new_password: Password


class BlockIn(_Strict):
    """Block a visitor: their token(s) and identity ``sub``; their address with
    ``include_ip``; for ``duration_seconds`` (a minute up to a year)."""

    visitor_id: Annotated[str, Field(min_length=1, max_length=32)]
    duration_seconds: Annotated[int, Field(ge=60, le=366 * 86400)]
    include_ip: bool = False
    reason: Annotated[str, Field(max_length=500), AfterValidator(_no_nul)] | None = None


class TemporaryPasswordIn(_Strict):
    """An admin's reset of another operator's password: the one given, or one generated
    when absent. Either way the operator must choose their own at their next sign-in."""

    password: Password | None = None


class PrechatIn(_Strict):
    name: PrechatMode = "optional"
    email: PrechatMode = "optional"


class _SiteFields(_Strict):
    allowed_origins: Annotated[list[Origin], Field(max_length=50)] | None = None
    greeting: Annotated[str, Field(max_length=500), AfterValidator(_no_nul)] | None = None
    accent_color: Annotated[str, Field(pattern=_COLOR.pattern)] | None = None
    position: Literal["left", "right"] | None = None
    prechat: PrechatIn | None = None
    offline_message: Annotated[str, Field(max_length=500), AfterValidator(_no_nul)] | None = None
    business_hours: dict[str, Any] | None = None
    enabled: bool | None = None
    identity_required: bool | None = None
    identity_replay_protection: bool | None = None
    require_agent_online: bool | None = None
    assignment: Literal["manual", "round_robin", "least_busy"] | None = None
    assign_on_reply: bool | None = None
    reply_time: (
        Annotated[str, Field(max_length=200), AfterValidator(_no_nul), AfterValidator(str.strip)]
        | None
    ) = None

    # The widget's language, and the site's own words per locale over its catalogs.
    locale: Annotated[str, Field(max_length=35), AfterValidator(valid_locale_setting)] | None = None
    strings: dict[str, Any] | None = None
    # The widget's colours: the visitor's light or dark setting, or a fixed one.
    theme: Literal["auto", "light", "dark"] | None = None

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return validate_hours(value)

    @field_validator("strings")
    @classmethod
    def _strings(cls, value: dict[str, Any] | None) -> dict[str, dict[str, str]] | None:
        return None if value is None else valid_strings(value)

    def columns(self) -> dict[str, Any]:
        """The set fields as table columns."""
        data = self.model_dump(exclude_unset=True, exclude={"name", "rotate_identity_secret"})
        prechat = data.pop("prechat", None)
        if prechat is not None:  # only the modes sent: {"email": "required"} keeps the name's
            data.update({f"prechat_{mode}": value for mode, value in prechat.items()})
        if "name" in self.model_fields_set:
            data["name"] = getattr(self, "name")  # noqa: B009
        return {k: v for k, v in data.items() if v is not None or k == "business_hours"}


class SiteIn(_SiteFields):
    name: Name


class SitePatch(_SiteFields):
    name: Name | None = None
    rotate_identity_secret: bool = False


MaxOpen = Annotated[int, Field(ge=1, le=1000)]


class OperatorIn(_Strict):
    email: Email
    name: Name
    role: Role = "agent"
    # None: the operator is invited by email to choose their own (ADR 0023).
    password: Password | None = None
    site_ids: Annotated[list[str], Field(max_length=500)] | None = None
    max_open: MaxOpen | None = None


class OperatorPatch(_Strict):
    name: Name | None = None
    role: Role | None = None
    active: bool | None = None
    password: Password | None = None
    site_ids: Annotated[list[str], Field(max_length=500)] | None = None
    # How many open conversations routing may give them; null: no limit.
    max_open: MaxOpen | None = None


Shortcut = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,50}$")]
SiteId = Annotated[str, Field(min_length=1, max_length=32)]


class CannedResponseIn(_Strict):
    shortcut: Shortcut
    body: Body
    # The site whose operators use it; absent or null: every site.
    site_id: SiteId | None = None


class CannedResponsePatch(_Strict):
    """Absent fields stay as they are; ``site_id: null`` makes a response global."""

    shortcut: Shortcut | None = None
    body: Body | None = None
    site_id: SiteId | None = None

    def changes(self) -> dict[str, Any]:
        wanted = {k: getattr(self, k) for k in self.model_fields_set}
        return {k: v for k, v in wanted.items() if v is not None or k == "site_id"}


class ApiTokenIn(_Strict):
    name: Name
    role: Literal["admin", "agent", "bot"] = "agent"
    # A bot token's site (required for "bot", refused otherwise).
    site_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None


def _webhook_url(value: str) -> str:
    # Only the URL's form here; what it may point at is the action's check (it knows
    # CHATDESK_WEBHOOK_ALLOW_PRIVATE).
    if _CONTROL.search(value):
        raise ValueError("must not contain spaces or control characters")
    return value


WebhookUrl = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_webhook_url)]
WebhookEvents = Annotated[list[WebhookEventType], Field(min_length=1, max_length=10)]


class WebhookIn(_Strict):
    url: WebhookUrl
    events: WebhookEvents
    site_id: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    active: bool = True
    include_private: bool = False


class WebhookPatch(_Strict):
    url: WebhookUrl | None = None
    events: WebhookEvents | None = None
    active: bool | None = None
    include_private: bool | None = None


M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


async def read_json(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``, for a route that reads its own body.

    Refuses what FastAPI's body parameters refuse, with the same errors: a missing
    body or one that is not JSON (by Content-Type) is a 422, malformed JSON a 400
    (see web/errors.py), a field error a 422 located under ``body``.
    """
    raw = await request.body()
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    if not _is_json(request.headers.get("content-type", "")):
        raise RequestValidationError(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": None,
                }
            ]
        )
    try:  # the usual case: valid JSON, valid fields, parsed and checked in one step
        return model.model_validate_json(raw)
    except ValidationError:
        pass
    try:
        # Anything else is parsed again as FastAPI parses bodies (json.loads, then
        # validation in Python mode), so every odd input gets the same answer here as
        # on any other route.
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]
        ) from None
    except (ValueError, RecursionError):  # not UTF-8, nested too deep
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return model.model_validate(data, from_attributes=True)  # as FastAPI validates bodies
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


def read_query(request: Request, params: dict[str, TypeAdapter[Any]]) -> dict[str, Any]:
    """Query parameters validated as FastAPI validates them, for a route that reads
    its own: the last value of each name, absent means None, every error reported
    at once (422, located under ``query``)."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    # Parsed here, not through ``request.query_params``, which keeps the parse on the
    # request: a parked events request would hold it for its whole wait.
    query = QueryParams(request.scope["query_string"])
    for name, adapter in params.items():
        raw = query.get(name)
        if raw is None:
            values[name] = None
            continue
        try:
            values[name] = adapter.validate_python(raw)
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                errors.append({**error, "loc": ("query", name, *error["loc"])})
    if errors:
        raise RequestValidationError(errors)
    return values


def query_openapi(params: dict[str, TypeAdapter[Any]]) -> list[dict[str, Any]]:
    """OpenAPI ``parameters`` for a :func:`read_query` route."""
    out = []
    for name, adapter in params.items():
        schema = adapter.json_schema()
        description = schema.pop("description", None)
        item: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
        if description:
            item["description"] = description
        out.append(item)
    return out


def json_body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body of a :func:`read_json` route."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


# Passkeys (ADR 0030): the browser's PublicKeyCredential travels as JSON (base64url
# fields) and is checked by py_webauthn; a name is what the operator calls the device.
PasskeyName = Annotated[str, Field(min_length=1, max_length=100)]
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode_only(value: Any) -> Any:
    """A credential's strings are whole Unicode (its free-form values are not checked as
    ``str`` fields are): a lone surrogate is refused like a NUL."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise ValueError("must be valid Unicode")
    elif isinstance(value, list | tuple):
        for item in value:
            _unicode_only(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _unicode_only(key)
            _unicode_only(item)
    return value


Credential = Annotated[dict[str, Any], AfterValidator(_unicode_only)]


class PasskeyRegisterIn(_Strict):
    name: PasskeyName = "Passkey"
    credential: Credential


class PasskeyLoginIn(_Strict):
    credential: Credential


class PasskeyPatch(_Strict):
    name: PasskeyName
