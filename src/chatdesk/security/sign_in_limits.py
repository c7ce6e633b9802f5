"""Sign-in limits that count failed attempts only (ADR 0004).

Three moving windows guard the password check:

- per account and address (``login_account_ip``): tight; one person's typos, or one
  machine guessing one account;
- per address (``login_ip``): a ceiling on failures from one address, high enough that
  a team behind one office NAT stays under it;
- per account (``login_account``): a slow backstop against guessing from many
  addresses. When it is full, the account still signs in from its *known good
  addresses* (ones it signed in from successfully in the last
  :data:`KNOWN_ADDRESS_DAYS` days), so nobody can lock an operator out by failing on
  purpose from elsewhere.

An attempt is counted *before* the password is checked, so parallel guesses cannot
slip past a limit between check and count; an attempt that turns out right gives its
counts back, so a successful sign-in never counts against the next colleague.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chatdesk.security.rate_limits import Limiter

__all__ = ["KNOWN_ADDRESS_DAYS", "SignInAttempt", "begin_sign_in"]

KNOWN_ADDRESS_DAYS = 30


@dataclass
class SignInAttempt:
    """The counts one sign-in attempt holds until its outcome is known."""

    limiter: Limiter
    held: list[tuple[str, str]] = field(default_factory=list)

    async def release(self) -> None:
        """Give back every count this attempt holds: the password was right, or no
        password was checked."""
        held, self.held = self.held, []
        for group, key in held:
            await self.limiter.give_back(group, key)


async def begin_sign_in(
    limiter: Limiter, email: str, ip: str, known_address: Callable[[], Awaitable[bool]]
) -> SignInAttempt:
    """Count a sign-in attempt for ``email`` from ``ip`` as a failure until it succeeds.

    Raises RateLimitExceeded (and holds nothing) when a limit is full; ``known_address``
    is asked only when the per-account backstop is.
    """
    attempt = SignInAttempt(limiter)
    for group, key in (("login_account_ip", f"{email}|{ip}"), ("login_ip", ip)):
        refusal = await limiter.take(group, key)
        if refusal is not None:
            await attempt.release()  # a refused attempt checks no password
            limiter.rejections += 1
            raise refusal
        attempt.held.append((group, key))
    refusal = await limiter.take("login_account", email)
    if refusal is None:
        attempt.held.append(("login_account", email))
    elif not await known_address():
        await attempt.release()
        limiter.rejections += 1
        raise refusal
    return attempt
