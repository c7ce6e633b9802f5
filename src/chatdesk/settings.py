"""Typed settings, read once from the environment (prefix ``CHATDESK_``).

Every setting is documented in ``docs/settings.md``; a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
import os
import re
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Environment", "Settings"]

_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
SAMPLE_SECRETS = {"", "change-me", "changeme", "secret", "dev-secret-not-for-production"}
# The loosest sign-in limits production accepts, in failed attempts per hour (ADR 0004):
# room to tune for a large office, none for a password-guessing run.
LOGIN_LIMIT_CEILINGS = {"login_account_ip": 120, "login_ip": 6000, "login_account": 100}
# The types an attachment may be, as sniffed from its bytes (storage/inspect.py knows
# each); the default allows all but archives.
KNOWN_ATTACHMENT_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/zip",
}
DEFAULT_ATTACHMENT_TYPES = sorted(KNOWN_ATTACHMENT_TYPES - {"application/zip"})


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """All of chatdesk's configuration."""

    model_config = SettingsConfigDict(env_prefix="CHATDESK_", extra="ignore")

    env: Environment = Environment.development
    database_url: str = "sqlite:///./chatdesk.db"
    redis_url: str | None = None
    secret_key: SecretStr = SecretStr("dev-secret-not-for-production")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = "info"
    # Requests slower than this log one line with their timing breakdown; 0 turns it off.
    slow_request_ms: int = Field(default=1000, ge=0)
    max_body_bytes: int = Field(default=65536, ge=1024)
    long_poll_default_wait: float = Field(default=25.0, ge=0)
    long_poll_max_wait: float = Field(default=55.0, ge=0, le=59)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    sse_send_timeout_seconds: float = Field(default=30.0, gt=0)
    event_poll_seconds: float = Field(default=2.0, gt=0)
    # Operator presence (ADR 0015): how long a closed console stream still counts as
    # online (a reconnect within it does not flicker offline), and how often each
    # process tells the others whose streams it holds.
    presence_grace_seconds: float = Field(default=5.0, ge=0, le=300)
    presence_announce_seconds: float = Field(default=10.0, gt=0, le=300)
    # SQLite: readiness fails when the database's disk has less than this free.
    disk_min_free_mb: int = Field(default=32, ge=0)
    event_retention_days: int = Field(default=30, ge=1)
    # Conversations with no activity for longer are deleted (actions/retention.py) by the
    # scheduler's lease holder, checked this often, and by ``chatdesk purge``; unset: kept.
    retention_days: int | None = Field(default=None, ge=1)
    retention_check_seconds: float = Field(default=3600.0, gt=0)
    session_idle_minutes: int = Field(default=720, ge=1)
    session_absolute_hours: int = Field(default=24 * 14, ge=1)
    # How long a password link works: one asked for by email, an invitation (ADR 0023).
    password_reset_hours: int = Field(default=1, ge=1, le=72)
    invitation_days: int = Field(default=7, ge=1, le=90)
    cookie_secure: bool | None = None
    read_threads: int = Field(default=4, ge=1, le=64)
    write_batch_max: int = Field(default=256, ge=1)
    # SQLite's writer: a process of its own (uses a second core) or a thread (ADR 0006).
    sqlite_writer: str = Field(default="process", pattern="^(process|thread)$")
    rate_limits: str = Field(default="on", pattern="^(on|off)$")
    # Moving-window limits per route group ("N/period", periods as the `limits` library
    # parses them). Defaults follow DESIGN.md; docs/settings.md says what each one counts.
    # Sign-in counts failed attempts only (ADR 0004): tight per account and address, a
    # ceiling per address that an office behind one NAT stays under, and a slow backstop
    # per account that the account's known good addresses pass.
    rate_limit_login_account_ip: str = "5/5minute"
    rate_limit_login_ip: str = "50/5minute"
    rate_limit_login_account: str = "100/day"
    # Password reset requests (each may send an email): per address and per account.
    rate_limit_password_reset_ip: str = "20/hour"  # noqa: S105 (a limit)
    rate_limit_password_reset_account: str = "5/hour"  # noqa: S105 (a limit)
    rate_limit_admin_write: str = "30/minute"
    rate_limit_admin_write_ip: str = "120/minute"
    rate_limit_unauthenticated: str = "120/minute"
    rate_limit_operator_write: str = "120/minute"
    rate_limit_operator_read: str = "1200/minute"
    rate_limit_widget_session: str = "60/hour"
    rate_limit_widget_conversation: str = "20/hour"
    rate_limit_visitor_message: str = "20/minute"
    rate_limit_visitor_read: str = "600/minute"
    rate_limit_typing: str = "60/minute"
    # Transcripts by email per visitor: each one is an email to an address they typed.
    rate_limit_transcript: str = "5/hour"
    # Files a visitor may upload (each is stored, sniffed and, for images, re-encoded).
    rate_limit_visitor_upload: str = "30/hour"
    # Attachments: where their bytes live (a directory, by default next to the SQLite
    # file, or an S3-compatible bucket), how large they may be and which types.
    files_dir: str | None = None
    s3_bucket: str | None = None
    s3_prefix: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9_-]*/)*$")
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    attachment_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ATTACHMENT_TYPES)
    )
    attachment_max_pixels: int = Field(default=40_000_000, ge=10_000, le=200_000_000)
    attachment_link_hours: int = Field(default=168, ge=1, le=24 * 90)
    # Concurrent event streams (SSE and parked long-polls) one principal may hold, per process.
    max_streams_visitor: int = Field(default=10, ge=1)
    max_streams_operator: int = Field(default=30, ge=1)
    visitor_token_idle_days: int = Field(default=90, ge=1)
    metrics_token: SecretStr | None = None
    metrics_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"]
    )
    hsts_include_subdomains: bool = False
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    demo_enabled: bool | None = None

    @field_validator("attachment_types", mode="before")
    @classmethod
    def _split_types(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("attachment_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = [item for item in value if item not in KNOWN_ATTACHMENT_TYPES]
        if unknown:
            known = ", ".join(sorted(KNOWN_ATTACHMENT_TYPES))
            raise ValueError(f"unknown types {', '.join(unknown)}; known: {known}")
        return value

    @field_validator("trusted_proxies", "metrics_allow", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network") from exc
        return value

    @field_validator(
        "rate_limit_login_account_ip",
        "rate_limit_login_ip",
        "rate_limit_login_account",
        "rate_limit_password_reset_ip",
        "rate_limit_password_reset_account",
        "rate_limit_admin_write",
        "rate_limit_admin_write_ip",
        "rate_limit_unauthenticated",
        "rate_limit_operator_write",
        "rate_limit_operator_read",
        "rate_limit_widget_session",
        "rate_limit_widget_conversation",
        "rate_limit_visitor_message",
        "rate_limit_visitor_read",
        "rate_limit_typing",
        "rate_limit_transcript",
        "rate_limit_visitor_upload",
    )
    @classmethod
    def _limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate limit like '30/minute'") from exc
        return value

    def rate_limit_specs(self) -> dict[str, str]:
        """Route group -> limit, from the ``rate_limit_*`` settings."""
        prefix = "rate_limit_"
        return {
            name.removeprefix(prefix): getattr(self, name)
            for name in type(self).model_fields
            if name.startswith(prefix)
        }

    @property
    def is_production(self) -> bool:
        return self.env == Environment.production

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.is_production if self.cookie_secure is None else self.cookie_secure

    @property
    def demo_on(self) -> bool:
        return (not self.is_production) if self.demo_enabled is None else self.demo_enabled

    def production_problems(self) -> list[str]:
        """What must be fixed before this configuration may run in production."""
        if not self.is_production:
            return []
        problems = []
        secret = self.secret_key.get_secret_value()
        if secret in SAMPLE_SECRETS or len(secret) < 32:
            problems.append(
                "CHATDESK_SECRET_KEY is empty, a sample value or shorter than 32 characters; "
                "set it to a random value, e.g. the output of "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        if self.rate_limits == "off":
            problems.append("CHATDESK_RATE_LIMITS=off is refused in production; remove it")
        problems.extend(self._loose_login_limits())
        if self.cookie_secure is False:
            problems.append(
                "CHATDESK_COOKIE_SECURE=false is refused in production: the session cookie "
                "would also travel over plain HTTP; serve chatdesk over HTTPS (behind a TLS "
                "proxy) and remove the setting"
            )
        if self.log_level.lower() == "debug":
            problems.append("CHATDESK_LOG_LEVEL=debug is refused in production; use info")
        if self.demo_enabled:
            problems.append("CHATDESK_DEMO_ENABLED=true is refused in production; remove it")
        if self.email_enabled and not (self.email_from and self.public_url):
            problems.append(
                "CHATDESK_SMTP_URL is set without CHATDESK_EMAIL_FROM or CHATDESK_PUBLIC_URL: "
                "email needs an address to come from and links back to chatdesk"
            )
        if self.oidc_issuer is not None and not self.oidc_issuer.startswith("https://"):
            problems.append(
                "CHATDESK_OIDC_ISSUER must be an https:// URL in production: its keys and "
                "tokens would otherwise travel unprotected"
            )
        path = sqlite_path(self.database_url)
        if path is not None and on_tmpfs(path):
            problems.append(
                f"the SQLite database {path} is on a tmpfs (lost at reboot); "
                "point CHATDESK_DATABASE_URL at a file on a persistent disk"
            )
        return problems

    def _loose_login_limits(self) -> list[str]:
        from limits import parse

        problems = []
        for group, ceiling in LOGIN_LIMIT_CEILINGS.items():
            spec = getattr(self, f"rate_limit_{group}")
            item = parse(spec)
            per_hour = item.amount * 3600 / item.get_expiry()
            if per_hour > ceiling:
                problems.append(
                    f"CHATDESK_RATE_LIMIT_{group.upper()}={spec} allows {per_hour:g} failed "
                    f"sign-ins an hour; production allows at most {ceiling} (see docs/settings.md)"
                )
        return problems

    # The HTTP server and the API reference page.
    # A request's head (request line and headers) past either bound gets 431 and its
    # connection closed before more of it is read: httptools has no bound of its own.
    max_header_bytes: int = Field(default=32768, ge=4096)
    max_header_count: int = Field(default=100, ge=16)
    api_docs_enabled: bool | None = None

    # The outbox (jobs/): each process's worker sends due jobs (webhook deliveries, email).
    job_concurrency: int = Field(default=16, ge=1, le=256)
    job_poll_seconds: float = Field(default=5.0, gt=0)
    job_lease_seconds: float = Field(default=60.0, gt=0)
    job_retry_base_seconds: float = Field(default=10.0, gt=0)
    job_retry_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    job_max_attempts: int = Field(default=16, ge=1)
    job_max_age_hours: float = Field(default=48.0, gt=0)
    # Timed work (jobs/scheduler.py: snooze wake-ups) runs on the one process that holds
    # the scheduler's lease in the database; every process looks this often.
    scheduler_poll_seconds: float = Field(default=5.0, gt=0)
    scheduler_lease_seconds: float = Field(default=30.0, gt=0)
    # Webhooks may reach loopback, private, link-local and metadata addresses: only for a
    # receiver on your own network (and the tests' loopback receivers).
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # Single sign-on with OpenID Connect (ADR 0029): on when an issuer and a client id are
    # set. Agents are created at their first sign-in only for the allowed email domains.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_allowed_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Who may sign in with a password: everyone ("all"), or owners only ("owners": the
    # others sign in with single sign-on, which this then requires).
    password_login: str = Field(default="all", pattern="^(all|owners)$")

    @field_validator("oidc_issuer", "oidc_client_id")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{value!r} is not an issuer URL like https://id.example.com")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: an issuer URL has no query or fragment")
        return value.rstrip("/")

    @field_validator("oidc_allowed_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower().lstrip("@") for part in value.split(",") if part.strip()]
        return value

    @field_validator("oidc_allowed_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _DOMAIN.fullmatch(item):
                raise ValueError(f"{item!r} is not an email domain like example.com")
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if (self.oidc_issuer is None) != (self.oidc_client_id is None):
            raise ValueError(
                "single sign-on needs both CHATDESK_OIDC_ISSUER and CHATDESK_OIDC_CLIENT_ID"
            )
        if self.password_login == "owners" and not self.oidc_enabled:  # noqa: S105 (a mode)
            raise ValueError(
                "CHATDESK_PASSWORD_LOGIN=owners needs single sign-on "
                "(CHATDESK_OIDC_ISSUER and CHATDESK_OIDC_CLIENT_ID): without it only "
                "owners could sign in"
            )
        return self

    @property
    def oidc_enabled(self) -> bool:
        """Whether the sign-in page offers single sign-on."""
        return self.oidc_issuer is not None and self.oidc_client_id is not None

    def password_login_allowed(self, role: str) -> bool:
        """Whether an operator of ``role`` may sign in with a password."""
        return self.password_login == "all" or role == "owner"  # noqa: S105 (a mode)

    @property
    def api_docs_on(self) -> bool:
        """Whether /api/docs (Swagger UI) is served; /openapi.json always is."""
        return (not self.is_production) if self.api_docs_enabled is None else self.api_docs_enabled

    # Email (docs/settings.md, "Email"). No SMTP URL: no email is ever sent or promised.
    smtp_url: SecretStr | None = None
    # A PEM file of the certificate authorities to trust for the SMTP server's certificate
    # (a private CA, a self-signed relay); unset: the system's.
    smtp_ca_file: str | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    email_from: str | None = None
    email_away_seconds: int = Field(default=300, ge=10)
    inbound_smtp_port: int | None = Field(default=None, ge=1, le=65535)
    inbound_smtp_host: str = "127.0.0.1"
    inbound_email_domain: str | None = None
    inbound_max_bytes: int = Field(default=1_048_576, ge=1024)
    inbound_token_days: int = Field(default=90, ge=1)

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        from chatdesk.smtp_url import parse_smtp_url

        parse_smtp_url(value.get_secret_value())  # raises ValueError naming the problem
        return value

    @field_validator("email_from")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        from email.utils import parseaddr

        if value is None or not value.strip():
            return None
        if "@" not in parseaddr(value)[1]:
            raise ValueError(f"{value!r} is not an address like 'Support <help@example.com>'")
        return value.strip()

    @field_validator("inbound_email_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().lower()
        if not _DOMAIN.fullmatch(value):
            raise ValueError(f"{value!r} is not a domain name like in.example.com")
        return value

    @model_validator(mode="after")
    def _inbound_needs_a_domain(self) -> Settings:
        if self.inbound_smtp_port is not None and self.inbound_email_domain is None:
            raise ValueError(
                "CHATDESK_INBOUND_SMTP_PORT needs CHATDESK_INBOUND_EMAIL_DOMAIN: the domain "
                "reply addresses (reply+<token>@<domain>) are made with"
            )
        return self

    @property
    def email_sender(self) -> str:
        """The From address of chatdesk's email: ``CHATDESK_EMAIL_FROM``, else one made
        from the public URL's host (production requires the setting)."""
        if self.email_from:
            return self.email_from
        host = urlsplit(self.public_url or "").hostname or "localhost"
        return f"chatdesk@{host}"

    @property
    def email_enabled(self) -> bool:
        """Whether chatdesk sends email (an SMTP URL is set): the widget promises email
        only then."""
        return self.smtp_url is not None

    @property
    def email_away(self) -> int | None:
        """What actions are given to queue email: the away delay, None when email is off."""
        return self.email_away_seconds if self.email_enabled else None

    @property
    def inbound_enabled(self) -> bool:
        """Whether replies by email come back in: an inbound domain to address them to,
        and outgoing email to carry the address."""
        return self.email_enabled and self.inbound_email_domain is not None


def sqlite_path(url: str) -> str | None:
    """The file path of a ``sqlite:///`` URL, absolute; None for other databases."""
    if not url.startswith("sqlite:///"):
        return None
    return os.path.abspath(url.removeprefix("sqlite:///").split("?", 1)[0])


def on_tmpfs(path: str, mounts: str = "/proc/mounts") -> bool:
    """True when ``path`` lies on a tmpfs/ramfs mount (by the longest matching mount point)."""
    try:
        with open(mounts, encoding="utf-8") as handle:
            table = [line.split()[1:3] for line in handle if len(line.split()) >= 3]
    except OSError:
        return False
    best, kind = "", ""
    for mount_point, fs_type in table:
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fs_type
    return kind in {"tmpfs", "ramfs"}
