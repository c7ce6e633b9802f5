"""Two-factor sign-in with TOTP (RFC 6238, through pyotp): secrets, codes, recovery codes.

- **Secrets** are 160 random bits (32 base32 characters), shown once at setup. At rest
  they are sealed with AES-GCM under a key derived from ``CHATDESK_SECRET_KEY`` for this
  one purpose, the operator's id bound in as associated data (a sealed secret copied to
  another operator's row does not open). A database dump or export alone gives no
  one a second factor. Changing the secret key makes every sealed secret unreadable:
  those operators are refused until ``chatdesk totp-reset`` turns theirs off (ADR 0022).
- **Codes** are 6 digits for 30-second steps; one step of clock drift either way is
  accepted. :func:`matching_step` says which step a code belongs to, so the caller can
  refuse a step already used (replay).
- **Recovery codes** are 12 random base32 characters shown as ``xxxx-xxxx-xxxx`` (60
  bits), stored as SHA-256 only, each good for one sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chatdesk.ids import hash_token, random_bytes

__all__ = [
    "ISSUER",
    "RECOVERY_CODE_COUNT",
    "TotpSecrets",
    "looks_like_totp_code",
    "matching_step",
    "new_recovery_codes",
    "new_secret",
    "provisioning_uri",
    "recovery_code_hash",
]

ISSUER = "chatdesk"
RECOVERY_CODE_COUNT = 10
DRIFT_STEPS = 1
_SEALED_PREFIX = "v1."
_CODE = re.compile(r"[0-9]{6}")
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_RECOVERY = re.compile(r"[0-9a-hjkmnp-tv-z]{12}")


class TotpSecrets:
    """Seals and opens TOTP secrets with a key derived from the server's secret key."""

    def __init__(self, secret_key: str) -> None:
        key = hmac.new(secret_key.encode(), b"chatdesk/totp-secret", hashlib.sha256).digest()
        self._aead = AESGCM(key)

    def seal(self, operator_id: str, secret: str) -> str:
        nonce = random_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), operator_id.encode())
        return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, operator_id: str, sealed: str) -> str | None:
        """The secret; None when it cannot be opened (sealed under another key)."""
        if not sealed.startswith(_SEALED_PREFIX):
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(_SEALED_PREFIX))
            return self._aead.decrypt(raw[:12], raw[12:], operator_id.encode()).decode()
        except (InvalidTag, ValueError):
            return None


def new_secret() -> str:
    """A fresh TOTP secret: 32 base32 characters (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://totp/...`` URI authenticator apps read (from a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def looks_like_totp_code(code: str) -> bool:
    return _CODE.fullmatch(code.replace(" ", "")) is not None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (within one step of ``now``) whose code ``code`` is; None if none."""
    code = code.replace(" ", "")
    if _CODE.fullmatch(code) is None:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Fresh recovery codes, as shown to the operator (``xxxx-xxxx-xxxx``)."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        value = int.from_bytes(random_bytes(8), "big")
        chars = "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in range(12))
        codes.append(f"{chars[:4]}-{chars[4:8]}-{chars[8:]}")
    return codes


def recovery_code_hash(text: str) -> str | None:
    """What a recovery code is stored as, from what someone typed (case, dashes and
    spaces do not matter); None when it cannot be one."""
    normal = re.sub(r"[\s-]", "", text.lower())
    if _RECOVERY.fullmatch(normal) is None:
        return None
    return hash_token("recovery:" + normal)
