"""Identity tokens: a short-lived HS256 JWT that a host site's backend signs for its user."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatdesk.errors import Forbidden

__all__ = ["MAX_LIFETIME_SECONDS", "IdentityClaims", "verify_identity_token"]

# A token valid for longer than this is refused: identity tokens are minted per page load.
MAX_LIFETIME_SECONDS = 24 * 3600
LEEWAY_SECONDS = 30
MAX_JTI_LENGTH = 200


@dataclass(frozen=True)
class IdentityClaims:
    sub: str
    name: str | None
    email: str | None
    exp: float
    jti: str | None


def _number(value: object) -> bool:
    # bool is an int in Python, not a number in a JWT; Python's JSON reads NaN and 1e400.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_claim_types(claims: dict[str, Any]) -> None:
    """Refuse claims of the wrong JSON type before any arithmetic on them.

    PyJWT accepts a numeric string for ``exp``/``nbf``/``iat`` (it calls ``int()``),
    which would then fail any arithmetic with a TypeError, i.e. a 500.
    """
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _number(claims[name]):
            raise Forbidden(
                f"The identity token's {name} claim must be a number (seconds since 1970)."
            )
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 200:
        raise Forbidden("The identity token's subject is not valid.")
    jti = claims.get("jti")
    if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH):
        raise Forbidden(
            f"The identity token's jti must be a string of 1-{MAX_JTI_LENGTH} characters."
        )


def _check_times(claims: dict[str, Any], now: float) -> None:
    exp = float(claims["exp"])
    if exp + LEEWAY_SECONDS <= now:
        raise Forbidden("The identity token has expired.")
    if exp - now > MAX_LIFETIME_SECONDS:
        raise Forbidden("The identity token lives too long; keep it under a day.")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and float(value) - LEEWAY_SECONDS > now:
            raise Forbidden(f"The identity token's {name} is in the future.")


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
            # Times are checked below, against chatdesk's clock, once their types are known.
            options={
                "require": ["exp", "sub"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise Forbidden("The identity token is not valid.") from exc
    _check_claim_types(claims)
    _check_times(claims, now.timestamp())
    exp = float(claims["exp"])
    return IdentityClaims(
        sub=claims["sub"],
        name=_opt(claims.get("name")),
        email=_opt(claims.get("email")),
        exp=exp,
        jti=claims.get("jti"),
    )


def _opt(value: object) -> str | None:
    return value[:200] if isinstance(value, str) and value and "\x00" not in value else None
