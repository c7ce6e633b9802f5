"""Identity tokens: a short-lived HS256 JWT that a host site's backend signs for its user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chatdesk.errors import Forbidden

__all__ = ["MAX_LIFETIME_SECONDS", "IdentityClaims", "verify_identity_token"]

# A token valid for longer than this is refused: identity tokens are minted per page load.
MAX_LIFETIME_SECONDS = 24 * 3600
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class IdentityClaims:
    sub: str
    name: str | None
    email: str | None


def verify_identity_token(token: str, secret: str | None, now: datetime) -> IdentityClaims:
    """Claims of a valid token; Forbidden for anything else (bad signature, alg, expiry...)."""
    if not secret:
        raise Forbidden("This site does not accept identity tokens.")
    # Imported at the first identity token: most sites use none, and the server and
    # the writer process would each hold PyJWT for nothing.
    import jwt

    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise Forbidden("The identity token is not valid.") from exc
    if claims["exp"] - now.timestamp() > MAX_LIFETIME_SECONDS:
        raise Forbidden("The identity token lives too long; keep it under a day.")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub or len(sub) > 200:
        raise Forbidden("The identity token's subject is not valid.")
    return IdentityClaims(sub=sub, name=_opt(claims.get("name")), email=_opt(claims.get("email")))


def _opt(value: object) -> str | None:
    return value[:200] if isinstance(value, str) and value and "\x00" not in value else None
