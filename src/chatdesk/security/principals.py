"""Who is making a request: a visitor, or an operator (by session or API token)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROLES", "OperatorActor", "VisitorActor", "role_at_least"]

ROLES = ("agent", "admin", "owner")


def role_at_least(role: str, minimum: str) -> bool:
    return ROLES.index(role) >= ROLES.index(minimum)


@dataclass(frozen=True)
class VisitorActor:
    visitor_id: str
    site_id: str
    token_hash: str


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

    def can_see_site(self, site_id: str) -> bool:
        return self.site_ids is None or site_id in self.site_ids

    def at_least(self, role: str) -> bool:
        return role_at_least(self.role, role)
