"""Who is making a request: a visitor, or an operator (by session or API token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BOT_ROLE", "ROLES", "OperatorActor", "Principal", "VisitorActor", "role_at_least"]

# Lowest first. "bot" is an API token's role only (never an operator's): it acts on one
# site's conversations as a named bot author, and may do nothing an agent's settings
# or account pages do.
ROLES = ("bot", "agent", "admin", "owner")
BOT_ROLE = "bot"


def role_at_least(role: str, minimum: str) -> bool:
    return ROLES.index(role) >= ROLES.index(minimum)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who acts, written ``kind:id`` wherever it is recorded: the request log's
    ``principal`` field, rate-limit keys, the real-time hub's listeners."""

    kind: Literal["visitor", "operator", "api_token"]
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class VisitorActor:
    visitor_id: str
    site_id: str
    token_hash: str

    @property
    def principal(self) -> Principal:
        return Principal("visitor", self.visitor_id)

    @property
    def account(self) -> Principal:
        """The account behind the call; for a visitor, the visitor itself."""
        return self.principal


@dataclass(frozen=True)
class OperatorActor:
    operator_id: str
    name: str
    email: str
    role: str
    # None: every site (owners and admins); otherwise the sites this agent belongs to.
    site_ids: frozenset[str] | None
    session_id: str | None = None
    csrf_token: str | None = None
    api_token_id: str | None = None
    # A session of an operator whose password an admin set: until they choose their own,
    # the session may only change it, read "me" and sign out (ADR 0018).
    must_change_password: bool = False
    # A session of an operator without two-factor sign-in while an owner requires it for
    # everyone: until they turn it on, it may only set it up, read "me" and sign out.
    totp_setup_required: bool = False

    @property
    def principal(self) -> Principal:
        """Who acts: the API token when the call came with one, else the operator."""
        if self.api_token_id is not None:
            return Principal("api_token", self.api_token_id)
        return self.account

    @property
    def account(self) -> Principal:
        """The operator behind the call, whichever credential it came with: what
        changing or signing out that operator concerns."""
        return Principal("operator", self.operator_id)

    @property
    def is_bot(self) -> bool:
        """A bot token's call: ``name`` is the bot's, ``api_token_id`` its author id."""
        return self.role == BOT_ROLE

    def can_see_site(self, site_id: str) -> bool:
        return self.site_ids is None or site_id in self.site_ids

    def at_least(self, role: str) -> bool:
        return role_at_least(self.role, role)
