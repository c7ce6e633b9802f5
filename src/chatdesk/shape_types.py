"""The JSON bodies of docs/api.md as TypedDicts: what ``shapes.py`` builds, what each
route declares to ``/openapi.json`` (ADR 0009).

TypedDicts rather than pydantic models: responses stay plain dicts, built and
serialised as before, and mypy checks every key and value type where they are
built. ``typing_extensions.TypedDict``, because pydantic needs it for the
schema on Python 3.11.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

__all__ = [
    "ApiToken",
    "ApiTokenList",
    "Attachment",
    "AuditEntry",
    "AuditLog",
    "Author",
    "AuthorType",
    "Block",
    "BlockList",
    "BusinessHours",
    "CannedResponse",
    "CannedResponseList",
    "CheckStatus",
    "Conversation",
    "ConversationList",
    "ConversationPage",
    "ConversationStatus",
    "DeliveryStatus",
    "EmailJob",
    "EmailJobList",
    "ErrorBody",
    "ErrorEnvelope",
    "Event",
    "EventData",
    "EventsPage",
    "Health",
    "InboxSite",
    "InboxSiteList",
    "LabelList",
    "LastMessage",
    "Launcher",
    "ListedVisitorConversation",
    "Message",
    "MessageList",
    "NewApiToken",
    "NewConversation",
    "NewWebhook",
    "Notifications",
    "Operator",
    "OperatorList",
    "Passkey",
    "PasskeyList",
    "PasskeyOptions",
    "Prechat",
    "PrechatMode",
    "Presence",
    "Rating",
    "Readiness",
    "ReadinessCheck",
    "RecoveryCodes",
    "ReportAgent",
    "ReportAgents",
    "ReportComment",
    "ReportCsat",
    "ReportGroup",
    "ReportHeatmap",
    "ReportHeatmapCell",
    "ReportPoint",
    "ReportRatings",
    "ReportScore",
    "ReportSite",
    "ReportSites",
    "ReportSummary",
    "ReportTimeseries",
    "ReportTimings",
    "Role",
    "SearchMatch",
    "SecurityPolicy",
    "SignedIn",
    "SignedInDevice",
    "SignedInDeviceList",
    "Site",
    "SiteList",
    "TeamList",
    "TeamMember",
    "TemporaryPassword",
    "TimelineKind",
    "TokenRole",
    "TotpSetup",
    "Visitor",
    "VisitorConversation",
    "VisitorProfile",
    "VisitorSession",
    "Webhook",
    "WebhookDelivery",
    "WebhookDeliveryList",
    "WebhookEventType",
    "WebhookList",
    "WidgetConfig",
    "WidgetSite",
]

ConversationStatus = Literal["open", "pending", "resolved", "snoozed"]
# What a timeline entry (a system message, operators only) tells (ADR 0017).
TimelineKind = Literal["assigned", "unassigned", "status", "snoozed", "woke", "labels", "rated"]
AuthorType = Literal["visitor", "operator", "system", "bot"]
Role = Literal["owner", "admin", "agent"]
TokenRole = Literal["owner", "admin", "agent", "bot"]
PrechatMode = Literal["off", "optional", "required"]
# An operator's presence: ``online`` with a console stream open and not away, ``away``
# when they chose it, else ``offline`` (ADR 0015).
Presence = Literal["online", "away", "offline"]
# What a webhook may subscribe to (docs/events.md, "Webhooks").
WebhookEventType = Literal[
    "conversation.created",
    "conversation.updated",
    "conversation.resolved",
    "message.created",
    "rating.created",
]
DeliveryStatus = Literal["pending", "delivered", "failed"]


# -- messages and conversations -------------------------------------------------------


class Author(TypedDict):
    type: AuthorType
    id: str | None
    name: str | None


class Attachment(TypedDict):
    """A file in a conversation. ``url`` (and ``thumbnail_url``, for images) are signed
    links that work without other credentials until they expire."""

    id: str
    name: str
    content_type: str
    size: int
    url: str
    thumbnail_url: str | None
    width: int | None
    height: int | None


class SentAttachment(Attachment):
    """A file as a visitor's files list it: with the message that carried it."""

    conversation_id: str
    message_id: str
    created_at: str


class VisitorFiles(TypedDict):
    attachments: list[SentAttachment]


class Message(TypedDict):
    id: str
    conversation_id: str
    author: Author
    body: str
    private: bool
    client_msg_id: str | None
    created_at: str
    # The operators a private note @mentions (ids of the site's operators); else empty.
    mentions: list[str]
    # The files it carries (ADR 0019), their links signed for whoever reads the message.
    attachments: list[Attachment]
    # Timeline entries only (author type "system", always private; ADR 0017).
    kind: NotRequired[TimelineKind]
    data: NotRequired[dict[str, Any]]


class LastMessage(TypedDict):
    preview: str
    author_type: AuthorType


class Visitor(TypedDict):
    """A visitor's profile as operators see it."""

    id: str
    site_id: str
    external_id: str | None
    name: str | None
    email: str | None
    page_url: str | None
    user_agent: str | None
    timezone: str | None
    created_at: str
    last_seen_at: str


class Rating(TypedDict):
    """The visitor's rating of a resolved conversation (at most one per conversation)."""

    score: int  # 1 to 5
    comment: str | None
    created_at: str


class VisitorConversation(TypedDict):
    """A conversation as its visitor sees it: ``labels`` always empty."""

    id: str
    site_id: str
    visitor_id: str
    status: ConversationStatus
    assignee_id: str | None
    labels: list[str]
    created_at: str
    updated_at: str
    last_message_at: str
    last_message: LastMessage
    # Read receipts: the newest message the visitor / an operator has seen.
    visitor_read_message_id: NotRequired[str | None]
    operator_read_message_id: NotRequired[str | None]
    # The visitor's rating once given (null before); events stored before ratings lack it.
    rating: NotRequired[Rating | None]


class ListedVisitorConversation(VisitorConversation):
    """In the visitor's own list (GET /api/v1/widget/conversations): with ``unread_count``,
    the team's messages they have not read yet (operators' shape: their own count)."""

    unread_count: int


class SearchMatch(TypedDict):
    """The message a search matched best in a conversation: ``snippet`` is its text
    around the matched words, HTML-escaped, each match inside ``<mark>…</mark>``."""

    message_id: str
    snippet: str


class Conversation(VisitorConversation):
    """A conversation as operators see it; ``visitor`` where the route says so.
    ``snoozed_until`` is set while ``status`` is ``snoozed`` (visitors see ``open``)."""

    unread_count: int
    snoozed_until: NotRequired[str | None]
    visitor: NotRequired[Visitor]
    # In a search's results, when a message matched (not only the visitor's name or email).
    match: NotRequired[SearchMatch]


class VisitorRecord(Visitor):
    """Everything stored on a visitor (an export for the visitor's own request)."""

    last_ip: str | None
    email_unsubscribed_at: str | None
    blocked_until: str | None


class VisitorSessionRecord(TypedDict):
    created_at: str
    last_used_at: str
    revoked_at: str | None


class ExportedBlock(TypedDict):
    id: str
    ip: str | None
    external_id: str | None
    reason: str | None
    created_at: str
    expires_at: str
    lifted_at: str | None


class ExportedConversation(Conversation):
    messages: list[Message]


class VisitorExport(TypedDict):
    """``GET /api/v1/visitors/{vid}/export``: every stored fact about one visitor."""

    exported_at: str
    visitor: VisitorRecord
    sessions: list[VisitorSessionRecord]
    conversations: list[ExportedConversation]
    blocks: list[ExportedBlock]


class ConversationList(TypedDict):
    conversations: list[ListedVisitorConversation]


class ConversationPage(TypedDict):
    conversations: list[Conversation]
    next_cursor: str | None


class MessageList(TypedDict):
    messages: list[Message]


class NewConversation(TypedDict):
    conversation: VisitorConversation
    message: Message


# -- events ---------------------------------------------------------------------------


class EventData(TypedDict, total=False):
    """What an event carries, by type (docs/events.md)."""

    conversation: Conversation | VisitorConversation
    changes: list[str]
    message: Message
    visitor: Visitor
    author: Author
    private: bool
    # conversation.handoff: the bot; conversation.read: which side read.
    by: Author | Literal["visitor", "operator"]
    operator_id: str
    presence: Presence
    message_id: str
    rating: Rating


class Event(TypedDict):
    """One event; ``id`` is null only for ephemeral ones (``typing``). ``type`` is one of
    docs/events.md's types; clients ignore types they do not know."""

    id: int | None
    type: str
    conversation_id: str | None
    created_at: str
    data: EventData


class EventsPage(TypedDict):
    """A long-poll's answer: the events, and the cursor to pass back as ``after``."""

    events: list[Event]
    cursor: int


# -- the widget -----------------------------------------------------------------------


class Prechat(TypedDict):
    name: PrechatMode
    email: PrechatMode


class Face(TypedDict):
    """An online operator as the widget's header shows them: first name and face."""

    name: str
    avatar_url: str


class WidgetSite(TypedDict):
    name: str
    greeting: str
    accent_color: str
    position: Literal["left", "right"]
    prechat: Prechat
    online: bool
    offline_message: str
    # The line under the header while online ("We usually reply in a few minutes").
    reply_time: str
    identity_required: bool
    # Whether chatdesk sends email: only then does the widget promise a reply by email.
    email_enabled: bool
    # "auto" (the visitor's browser) or a language tag; the site's words per locale; which
    # of greeting, offline_message, reply_time are chatdesk's own (shown translated).
    locale: str
    strings: dict[str, dict[str, str]]
    # "auto" follows the visitor's light or dark setting; "light" or "dark" fixes one.
    theme: Literal["auto", "light", "dark"]
    # Up to three of the operators online for this site, for the header.
    team: list[Face]
    default_texts: list[str]


class WidgetConfig(TypedDict):
    site: WidgetSite


class VisitorProfile(TypedDict):
    id: str
    name: str | None
    email: str | None


class VisitorSession(TypedDict):
    visitor_token: str
    visitor: VisitorProfile


class Launcher(TypedDict):
    """What the widget loader reads before the frame exists (``/widget/launcher``, a page
    route outside /openapi.json): ``allowed`` says whether the page may frame the chat."""

    accent_color: str
    position: Literal["left", "right"]
    allowed: bool
    # The visitor's language and its direction, and the loader's words in it.
    locale: str
    dir: Literal["ltr", "rtl"]
    strings: dict[str, str]


# -- operators and sign-in ------------------------------------------------------------


class Notifications(TypedDict):
    """Which emails an operator gets: a conversation nobody answered within
    ``unanswered_minutes`` (null: none), and being @mentioned."""

    unanswered_minutes: int | None
    mentions: bool


class Operator(TypedDict):
    id: str
    email: str
    name: str
    role: Role
    active: bool
    created_at: str
    presence: Presence
    # The most open conversations routing may give them (null: no limit).
    max_open: int | None
    # An admin set a temporary password: the operator must choose their own to go on.
    must_change_password: bool
    # Their face: the uploaded picture or their initials (avatars.py); whether they uploaded one.
    avatar_url: str
    avatar_uploaded: bool
    site_ids: NotRequired[list[str]]
    notifications: NotRequired[Notifications]
    # Whether two-factor sign-in is on (the operator's own profile only).
    totp_enabled: NotRequired[bool]
    # Invited without a password and has not chosen one yet: cannot sign in (ADR 0023).
    invited: NotRequired[bool]
    # Created without a password (POST /operators only): "sent" when the invitation
    # email is on its way, "not_sent" when chatdesk sends no email (no CHATDESK_SMTP_URL).
    invitation: NotRequired[Literal["sent", "not_sent"]]


class OperatorList(TypedDict):
    operators: list[Operator]


class TotpSetup(TypedDict):
    """A new TOTP secret, shown this once, and the URI authenticator apps read."""

    secret: str
    otpauth_uri: str


class RecoveryCodes(TypedDict):
    """Single-use codes that sign in instead of an authentication code; shown once."""

    recovery_codes: list[str]


class SignedIn(TypedDict):
    """The operator, and the CSRF token of its session (null with an API token)."""

    operator: Operator
    csrf_token: str | None


class TeamMember(TypedDict):
    id: str
    name: str
    role: Role
    presence: Presence
    avatar_url: str


class TeamList(TypedDict):
    operators: list[TeamMember]


class InboxSite(TypedDict):
    id: str
    name: str


class InboxSiteList(TypedDict):
    sites: list[InboxSite]


class LabelList(TypedDict):
    labels: list[str]


# -- settings -------------------------------------------------------------------------


class BusinessHours(TypedDict):
    """``days`` maps ``mon`` … ``sun`` to ``[start, end]`` pairs (``HH:MM``); a day
    left out is closed all day."""

    timezone: str
    days: dict[str, list[list[str]]]


class Site(TypedDict):
    id: str
    name: str
    site_key: str
    allowed_origins: list[str]
    greeting: str
    accent_color: str
    position: Literal["left", "right"]
    prechat: Prechat
    offline_message: str
    business_hours: BusinessHours | None
    enabled: bool
    identity_required: bool
    identity_replay_protection: bool
    identity_secret_set: bool
    # The widget shows itself offline while no operator who answers the site is online.
    require_agent_online: bool
    reply_time: str
    # How new conversations get an assignee, and whether a first reply assigns (ADR 0016).
    assignment: Literal["manual", "round_robin", "least_busy"]
    assign_on_reply: bool
    # The widget's language ("auto" or a tag) and the site's own strings (ADR 0021).
    locale: str
    strings: dict[str, dict[str, str]]
    # The widget's colours: "auto" (the visitor's setting), "light" or "dark".
    theme: Literal["auto", "light", "dark"]
    created_at: str
    updated_at: str
    identity_secret: NotRequired[str | None]


class SiteList(TypedDict):
    sites: list[Site]


class CannedResponse(TypedDict):
    id: str
    shortcut: str
    body: str
    site_id: str | None  # None: every site's
    created_at: str
    updated_at: str | None


class CannedResponseList(TypedDict):
    canned_responses: list[CannedResponse]


class ApiToken(TypedDict):
    id: str
    name: str
    prefix: str
    role: TokenRole
    operator_id: str
    site_id: str | None
    created_at: str
    last_used_at: str | None


class NewApiToken(ApiToken):
    """The new token with its secret, shown only in this answer."""

    token: str


class ApiTokenList(TypedDict):
    api_tokens: list[ApiToken]


class Webhook(TypedDict):
    id: str
    url: str
    events: list[WebhookEventType]
    site_id: str | None
    active: bool
    include_private: bool
    created_at: str
    created_by: str | None


class NewWebhook(Webhook):
    """The new webhook with its signing secret, shown only in this answer."""

    secret: str


class WebhookList(TypedDict):
    webhooks: list[Webhook]


class WebhookDelivery(TypedDict):
    id: str
    event_type: WebhookEventType
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None


class WebhookDeliveryList(TypedDict):
    deliveries: list[WebhookDelivery]


class EmailJob(TypedDict):
    """An email job of the outbox as the console lists it (``queries/email_jobs.py``)."""

    id: str
    kind: str
    to: str | None
    subject: str | None
    conversation_id: str | None
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str
    updated_at: str
    next_attempt_at: str | None
    delivered_at: str | None


class EmailJobList(TypedDict):
    emails: list[EmailJob]
    email_enabled: bool


class AuditEntry(TypedDict):
    id: int
    operator_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    created_at: str
    details: dict[str, Any]


class AuditLog(TypedDict):
    entries: list[AuditEntry]


# -- service and errors ---------------------------------------------------------------


class Health(TypedDict):
    status: Literal["ok"]


CheckStatus = Literal["ok", "degraded", "failing"]


class ReadinessCheck(TypedDict):
    status: CheckStatus
    detail: NotRequired[str]


class Readiness(TypedDict):
    """``GET /readyz``: 200 for ok and degraded (the node serves), 503 for failing."""

    status: CheckStatus
    checks: dict[str, ReadinessCheck]


class ErrorBody(TypedDict):
    code: str
    message: str
    details: Any


class ErrorEnvelope(TypedDict):
    """Every 4xx and 5xx answer; ``code`` is one of docs/api.md's error codes."""

    error: ErrorBody


class Block(TypedDict):
    """A block of an abusive visitor (ADR 0018)."""

    id: str
    site_id: str
    visitor_id: str | None
    visitor_name: str | None
    external_id: str | None
    ip: str | None
    reason: str | None
    created_by: str | None
    created_at: str
    expires_at: str
    lifted_at: str | None
    lifted_by: str | None
    active: bool


class BlockList(TypedDict):
    blocks: list[Block]


class TemporaryPassword(TypedDict):
    """A temporary password an admin set or generated, shown only in this answer."""

    temporary_password: str


class ReportTimings(TypedDict):
    """Seconds: the median and the 90th percentile (nearest rank); null with no data."""

    median: float | None
    p90: float | None


class ReportCsat(TypedDict):
    average: float | None
    count: int


class ReportSummary(TypedDict):
    """Totals and timings over a period (ADR 0026)."""

    conversations: int
    messages: int
    first_response_seconds: ReportTimings
    resolution_seconds: ReportTimings
    csat: ReportCsat


class ReportPoint(TypedDict):
    """One bucket: ``t`` when it starts (UTC), ``local`` the same in the viewer's zone."""

    t: str
    local: str
    value: float | None


class ReportTimeseries(TypedDict):
    points: list[ReportPoint]


class ReportGroup(TypedDict):
    conversations: int
    resolved: int
    first_response_seconds: ReportTimings
    resolution_seconds: ReportTimings
    csat: ReportCsat


class ReportSite(ReportGroup):
    site_id: str
    name: str | None
    messages: int


class ReportSites(TypedDict):
    sites: list[ReportSite]


class ReportAgent(ReportGroup):
    """An assignee's figures; ``operator_id`` null: conversations nobody was assigned."""

    operator_id: str | None
    name: str | None


class ReportAgents(TypedDict):
    agents: list[ReportAgent]


class ReportHeatmapCell(TypedDict):
    """Conversations started on this local weekday (0 = Monday) and hour (0-23)."""

    weekday: int
    hour: int
    conversations: int


class ReportHeatmap(TypedDict):
    cells: list[ReportHeatmapCell]


class ReportScore(TypedDict):
    score: int
    count: int


class ReportComment(TypedDict):
    conversation_id: str
    site_id: str
    score: int
    comment: str
    rated_at: str


class ReportRatings(TypedDict):
    distribution: list[ReportScore]
    csat: ReportCsat
    recent: list[ReportComment]


class SignedInDevice(TypedDict):
    """A live session of an operator (Sessions page, ADR 0030)."""

    id: str
    device: str
    user_agent: str | None
    ip: str | None
    signed_in_at: str
    last_seen_at: str
    current: bool


class SignedInDeviceList(TypedDict):
    sessions: list[SignedInDevice]


class SecurityPolicy(TypedDict):
    """Organisation-wide sign-in rules owners set (ADR 0030)."""

    require_totp: bool


class Passkey(TypedDict):
    """A passkey of the signed-in operator (never its key or credential id)."""

    id: str
    name: str
    created_at: str
    last_used_at: str | None


class PasskeyList(TypedDict):
    passkeys: list[Passkey]


class PasskeyOptions(TypedDict):
    """WebAuthn options for navigator.credentials (create or get), as JSON."""

    public_key: dict[str, Any]
