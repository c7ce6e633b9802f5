"""The schema, as SQLAlchemy Core tables. Changed only together with a migration."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

__all__ = [
    "REPLY_TIME",
    "api_tokens",
    "audit_log",
    "canned_responses",
    "conversation_labels",
    "conversations",
    "events",
    "identity_token_uses",
    "labels",
    "messages",
    "meta",
    "metadata",
    "operator_passkeys",
    "operator_recovery_codes",
    "operator_sessions",
    "operator_tokens",
    "operator_totp",
    "operators",
    "org_settings",
    "outbox",
    "site_operators",
    "sites",
    "visitor_blocks",
    "visitor_tokens",
    "visitors",
    "webauthn_challenges",
    "webhooks",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)
TS = DateTime(timezone=True)
# BigInteger for PostgreSQL's bigserial; SQLite needs INTEGER PRIMARY KEY to alias the rowid.
EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")
REPLY_TIME = "We usually reply in a few minutes"

sites = Table(
    "sites",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("site_key", String(64), nullable=False, unique=True),
    Column("allowed_origins", JSON, nullable=False),
    Column("greeting", String(500), nullable=False),
    Column("accent_color", String(7), nullable=False),
    Column("position", String(10), nullable=False),
    Column("prechat_name", String(10), nullable=False),
    Column("prechat_email", String(10), nullable=False),
    Column("offline_message", String(500), nullable=False),
    Column("business_hours", JSON, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("identity_secret", String(128), nullable=True),
    Column("identity_required", Boolean, nullable=False),
    # Each identity token's jti is accepted once (identity_token_uses).
    Column("identity_replay_protection", Boolean, nullable=False, server_default=false()),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # The widget shows itself offline while no operator who answers this site is online.
    Column("require_agent_online", Boolean, nullable=False, server_default=false()),
    # The line under the widget's header while the site is online.
    Column("reply_time", String(200), nullable=False, server_default=REPLY_TIME),
    # How new conversations get an assignee: "manual", "round_robin" or "least_busy"
    # (actions/routing.py); and whether an operator's first reply to an unassigned
    # conversation makes it theirs.
    Column("assignment", String(20), nullable=False, server_default="manual"),
    Column("assign_on_reply", Boolean, nullable=False, server_default=true()),
    # Round-robin's pointer: the operator routing assigned last on this site (no
    # foreign key: a deleted operator's id still orders the next turn).
    Column("last_assigned_id", ID, nullable=True),
    # The widget's language: "auto" (the visitor's browser) or a tag a catalog exists for;
    # and the site's own words over the catalogs, {locale: {key: text}} (ADR 0021).
    Column("locale", String(35), nullable=False, server_default="auto"),
    Column("strings", JSON, nullable=False, server_default=text("'{}'")),
    # The widget's colours: "auto" (the visitor's light or dark setting), "light" or "dark".
    Column("theme", String(5), nullable=False, server_default="auto"),
)

operators = Table(
    "operators",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(10), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # Email notifications the operator chose (Account): a conversation nobody answered
    # within this many minutes (null: never), and being @mentioned.
    Column("notify_unanswered_minutes", Integer, nullable=True),
    Column("notify_mentions", Boolean, nullable=False, server_default=true()),
    # The operator chose Away (kept until they choose Online); whether they are
    # connected lives in memory only (realtime/operator_presence.py).
    Column("away", Boolean, nullable=False, server_default=false()),
    # How many open conversations routing may give them (null: no limit).
    Column("max_open", Integer, nullable=True),
    # Set when an admin gave this operator a temporary password: until they choose their
    # own, their sessions may only change the password, read "me" and sign out (ADR 0018).
    Column("must_change_password", Boolean, nullable=False, server_default=false()),
    # The version (a hash) of the picture they uploaded, stored as avatars/<id> in the file
    # store; null: their initials stand in (avatars.py).
    Column("avatar", String(32), nullable=True),
)

site_operators = Table(
    "site_operators",
    metadata,
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("operator_id", ID, ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True),
)

operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("operator_id", ID, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("revoked_at", TS, nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(500), nullable=True),
    # How it was signed in: null for a password (and code), "passkey" or "oidc"; a
    # passkey's user verification and the identity provider's sign-in count as the
    # second factor under the two-factor rule (ADR 0030).
    Column("method", String(16), nullable=True),
    # Signed in by single sign-on: the provider's subject and its session id (``sid``,
    # when its ID token has one), which a back-channel logout names (ADR 0034).
    Column("oidc_sub", String(255), nullable=True),
    Column("oidc_sid", String(255), nullable=True),
    Index(None, "operator_id"),
    Index(None, "oidc_sub"),
    Index(None, "oidc_sid"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("role", String(10), nullable=False),
    Column("operator_id", ID, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("last_used_at", TS, nullable=True),
    Column("revoked_at", TS, nullable=True),
    # A bot token's one site (null for other roles).
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), nullable=True),
)

# Two-factor sign-in (ADR 0022). ``secret`` is the active TOTP secret and ``pending_secret``
# one set up but not yet confirmed with a code; both sealed with a key derived from
# CHATDESK_SECRET_KEY (security/totp.py), never stored or shown in clear after setup.
# ``last_step`` is the time step of the last code accepted: a code of that step or an
# earlier one is refused (replay).
operator_totp = Table(
    "operator_totp",
    metadata,
    Column("operator_id", ID, ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", String(200), nullable=True),
    Column("pending_secret", String(200), nullable=True),
    Column("enabled_at", TS, nullable=True),
    Column("last_step", Integer, nullable=True),
    Column("updated_at", TS, nullable=False),
)

# Single-use recovery codes of two-factor sign-in, stored as SHA-256 only.
operator_recovery_codes = Table(
    "operator_recovery_codes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("operator_id", ID, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
    Index(None, "operator_id"),
)

# Single-use links to set a password: a reset asked for by email, or an invitation.
# Only the token's hash is stored (the email's link is made from ``id`` and the secret
# key when it is sent, see security/operator_links.py).
operator_tokens = Table(
    "operator_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("operator_id", ID, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(16), nullable=False),  # "reset" or "invitation"
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
    Index(None, "operator_id"),
)

# Organisation-wide settings owners change in the console, one row per key (ADR 0030):
# "require_totp" (bool): every operator signs in with two factors.
org_settings = Table(
    "org_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# Passkeys (WebAuthn credentials, ADR 0030): several per operator, each with the name
# its operator gave it. ``credential_id`` and ``public_key`` are base64url (unpadded);
# ``sign_count`` is the authenticator's counter last seen (0 for authenticators
# that keep none).
operator_passkeys = Table(
    "operator_passkeys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("operator_id", ID, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", String(1400), nullable=False, unique=True),
    Column("public_key", Text, nullable=False),
    Column("sign_count", Integer, nullable=False),
    Column("transports", JSON, nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("last_used_at", TS, nullable=True),
    Index(None, "operator_id"),
)

# Outstanding WebAuthn challenges, by their SHA-256: each is used at most once (the row
# is deleted when a ceremony uses it) and only until ``expires_at``. ``operator_id`` is
# the registering operator (null for a sign-in: the passkey names its operator).
webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    Column("challenge_hash", String(64), primary_key=True),
    Column("purpose", String(10), nullable=False),  # "register" or "login"
    Column("operator_id", ID, ForeignKey("operators.id", ondelete="CASCADE"), nullable=True),
    Column("expires_at", TS, nullable=False),
    Index(None, "expires_at"),
)

visitors = Table(
    "visitors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", String(200), nullable=True),
    Column("name", String(200), nullable=True),
    Column("email", String(320), nullable=True),
    Column("page_url", String(2000), nullable=True),
    Column("user_agent", String(500), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("created_at", TS, nullable=False),
    # When the visitor last had the widget connected (kept current while email is on).
    Column("last_seen_at", TS, nullable=False),
    # Set by the unsubscribe link: no more email to this visitor unless they ask for one.
    Column("email_unsubscribed_at", TS, nullable=True),
    # The latest end of the visitor's active blocks (visitor_blocks), kept by the block
    # actions: the message path reads it with the conversation it loads anyway (ADR 0018).
    Column("blocked_until", TS, nullable=True),
    # The address of the visitor's latest widget session, for blocking it.
    Column("last_ip", String(64), nullable=True),
    UniqueConstraint("site_id", "external_id"),
)

# Blocks of abusive visitors (ADR 0018): the visitor, their identity ``sub`` (the host
# site's user id) and optionally their address, until ``expires_at`` or until lifted.
visitor_blocks = Table(
    "visitor_blocks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("visitor_id", ID, ForeignKey("visitors.id", ondelete="SET NULL"), nullable=True),
    Column("external_id", String(200), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("reason", String(500), nullable=True),
    Column("created_by", ID, ForeignKey("operators.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("lifted_at", TS, nullable=True),
    Column("lifted_by", ID, ForeignKey("operators.id", ondelete="SET NULL"), nullable=True),
    Index(None, "site_id", "expires_at"),
    Index(None, "visitor_id"),
)

visitor_tokens = Table(
    "visitor_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("visitor_id", ID, ForeignKey("visitors.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", TS, nullable=False),
    # Slid forward at most once per interval; idle longer than the setting = expired.
    Column("last_used_at", TS, nullable=False),
    Column("revoked_at", TS, nullable=True),
    Index(None, "visitor_id"),
)

# The jti of every identity token accepted by a site with replay protection, kept until
# the token expires (then a replay would be refused for its exp anyway).
identity_token_uses = Table(
    "identity_token_uses",
    metadata,
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", TS, nullable=False),
    Index(None, "expires_at"),
)

# What every report filters or groups by, after its moment (queries/reports.py).
_REPORTED = ("created_at", "site_id", "in_business_hours", "assignee_id")

conversations = Table(
    "conversations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("visitor_id", ID, ForeignKey("visitors.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(10), nullable=False),
    Column("assignee_id", ID, ForeignKey("operators.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("last_message_at", TS, nullable=False),
    Column("last_message_preview", String(200), nullable=False),
    Column("last_message_author", String(10), nullable=False),
    Column("unread_count", Integer, nullable=False),
    # The newest reply already sent to the visitor by email (its created_at).
    Column("emailed_through", TS, nullable=True),
    # While status is "snoozed": when it wakes (becomes "open"); null otherwise.
    Column("snoozed_until", TS, nullable=True),
    # Read receipts: the newest message each side has seen (message ids are time-ordered).
    Column("visitor_read_message_id", ID, nullable=True),
    Column("operator_read_message_id", ID, nullable=True),
    # The visitor's rating, given once the conversation is resolved (1-5, optional comment).
    Column("rating_score", Integer, nullable=True),
    Column("rating_comment", Text, nullable=True),
    Column("rated_at", TS, nullable=True),
    # Report timings, stored when they happen (ADR 0026): the first public reply of an
    # operator and how long after the start it came; the latest resolution and how long
    # after the start (cleared while reopened); whether it started in the site's business
    # hours (true for a site without hours).
    Column("first_response_at", TS, nullable=True),
    Column("first_response_seconds", Integer, nullable=True),
    Column("resolved_at", TS, nullable=True),
    Column("resolution_seconds", Integer, nullable=True),
    Column("in_business_hours", Boolean, nullable=False, server_default=true()),
    # Its public messages (visitor, operator and bot; no notes, no timeline entries),
    # counted by the UPDATE each message already makes.
    Column("message_count", Integer, nullable=False, server_default="0"),
    Index(None, "last_message_at", "id"),
    Index(None, "visitor_id"),
    Index(None, "site_id", "status"),
    Index(None, "status", "snoozed_until"),
    # The reports' ranges (queries/reports.py), covering: a report over a year reads
    # these indexes only, never the rows (ADR 0026).
    Index("ix_conversations_report_started", *_REPORTED, "message_count"),
    Index(
        "ix_conversations_report_first_response",
        "first_response_at",
        *_REPORTED[1:],
        "first_response_seconds",
    ),
    Index("ix_conversations_report_resolved", "resolved_at", *_REPORTED[1:], "resolution_seconds"),
    Index("ix_conversations_report_rated", "rated_at", *_REPORTED[1:], "rating_score"),
)

labels = Table(
    "labels",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(50), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

conversation_labels = Table(
    "conversation_labels",
    metadata,
    Column(
        "conversation_id",
        ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("label_id", ID, ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "label_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "conversation_id",
        ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("author_type", String(10), nullable=False),
    Column("author_id", ID, nullable=True),
    Column("author_name", String(200), nullable=True),
    Column("body", Text, nullable=False),
    Column("private", Boolean, nullable=False),
    Column("client_msg_id", String(64), nullable=True),
    Column("created_at", TS, nullable=False),
    # A private note's @mentioned operators (ids, resolved when stored); null: none.
    Column("mentions", JSON(none_as_null=True), nullable=True),
    # A timeline entry (author_type "system", always private): what happened ("assigned",
    # "status", "labels", ...) and the facts to tell it with. Null for written messages.
    Column("kind", String(20), nullable=True),
    Column("data", JSON, nullable=True),
    Index(None, "conversation_id", "id"),
    # Idempotency: one message per (author, client_msg_id), whatever the retries.
    UniqueConstraint("author_type", "author_id", "client_msg_id"),
)

# Files uploaded into a conversation (their bytes in the file store, storage/): a row
# from the upload on; ``message_id`` once a message carries it. Uploaded and never sent,
# it is removed after a day (``chatdesk purge``).
attachments = Table(
    "attachments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column(
        "conversation_id",
        ID,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("message_id", ID, ForeignKey("messages.id", ondelete="CASCADE"), nullable=True),
    Column("uploader_type", String(10), nullable=False),
    Column("uploader_id", ID, nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("thumbnail", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    Index(None, "conversation_id"),
    Index(None, "message_id"),
    Index(None, "created_at"),
)

events = Table(
    "events",
    metadata,
    Column("id", EVENT_ID, primary_key=True, autoincrement=True),
    Column("type", String(40), nullable=False),
    Column("site_id", ID, nullable=False),
    Column("conversation_id", ID, nullable=True),
    Column("visitor_id", ID, nullable=True),
    # True when the event must never reach a visitor (private notes, internal changes).
    Column("private", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("data", JSON, nullable=False),
    Index(None, "site_id", "id"),
    Index(None, "visitor_id", "id"),
    Index(None, "created_at"),
    # Never reuse an id, even after the newest rows are purged: cursors depend on it.
    sqlite_autoincrement=True,
)

canned_responses = Table(
    "canned_responses",
    metadata,
    Column("id", ID, primary_key=True),
    Column("shortcut", String(50), nullable=False),
    Column("body", Text, nullable=False),
    # The site whose operators use it; NULL: every site's (a global response).
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), nullable=True),
    Column("created_by", ID, ForeignKey("operators.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=True),
    # A shortcut is unique per site, and among global responses: NULLs are distinct in a
    # UNIQUE constraint, so the global ones need an index of their own.
    UniqueConstraint("site_id", "shortcut"),
    Index(
        "uq_canned_responses_global_shortcut",
        "shortcut",
        unique=True,
        sqlite_where=text("site_id IS NULL"),
        postgresql_where=text("site_id IS NULL"),
    ),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", EVENT_ID, primary_key=True, autoincrement=True),
    Column("operator_id", ID, nullable=True),
    Column("action", String(60), nullable=False),
    Column("target_type", String(30), nullable=True),
    Column("target_id", ID, nullable=True),
    Column("ip", String(64), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("details", JSON, nullable=False),
    Index(None, "created_at"),
)

# Outgoing webhooks (admin settings). A webhook gets the events with ids above
# ``after_event_id`` (the log's head when it was made), of the types it lists, from its
# site (or every site when ``site_id`` is null); private notes only with ``include_private``.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("site_id", ID, ForeignKey("sites.id", ondelete="CASCADE"), nullable=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    # Standard Webhooks signing secret (whsec_<base64>): needed in clear to sign.
    Column("secret", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("include_private", Boolean, nullable=False),
    Column("after_event_id", EVENT_ID, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("created_by", ID, ForeignKey("operators.id", ondelete="SET NULL"), nullable=True),
    Column("updated_at", TS, nullable=False),
)

# The durable outbox (jobs/outbox.py): one row per job to send (a webhook delivery, an
# email), written in the transaction that causes it. ``id`` is stable across attempts
# (the Standard Webhooks ``webhook-id``). A job is due when pending and
# ``next_attempt_at`` has passed; claiming it pushes ``next_attempt_at`` to the end of
# its lease (``claimed_until``), so a job whose claimer died is due again after it. A
# ``failed`` job is never due again: its ``next_attempt_at`` keeps when it failed.
outbox = Table(
    "outbox",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("webhook_id", ID, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True),
    Column("event_type", String(40), nullable=True),
    # A webhook delivery's event: its body is made from the event when the job is claimed.
    Column("event_id", EVENT_ID, nullable=True),
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", TS, nullable=False),
    Column("claimed_until", TS, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("delivered_at", TS, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "webhook_id", "id"),
    Index(None, "created_at"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)
