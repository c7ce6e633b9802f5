"""Passkeys (WebAuthn) with py_webauthn (ADR 0030): the options a browser's
``navigator.credentials`` gets, and checking what it answers.

chatdesk is the relying party of its own public address: the RP ID is the host of
``CHATDESK_PUBLIC_URL`` (else of the address the request came to) and the only origin
accepted is that address's. Credentials are discoverable and user-verified, so a
passkey alone signs in (no email first): the authenticator's fingerprint, face or PIN
is the second factor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import options_to_json_dict
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

__all__ = [
    "NewPasskey",
    "RelyingParty",
    "authentication_options",
    "b64url",
    "challenge_hash",
    "challenge_of",
    "credential_id_of",
    "registration_options",
    "verify_login",
    "verify_registration",
]

_RP_NAME = "chatdesk"
TIMEOUT_MS = 120_000


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the passkeys are for: the RP ID (a host name) and the one accepted origin."""

    rp_id: str
    origin: str

    @classmethod
    def of(cls, origin: str) -> RelyingParty:
        """The relying party of chatdesk's own origin (``scheme://host[:port]``)."""
        return cls(urlsplit(origin).hostname or "localhost", origin)


@dataclass(frozen=True, slots=True)
class NewPasskey:
    credential_id: str
    public_key: str
    sign_count: int
    transports: list[str]


def challenge_hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def registration_options(
    rp: RelyingParty, operator_id: str, email: str, name: str, existing: list[str]
) -> tuple[dict[str, Any], bytes]:
    """Options for ``navigator.credentials.create`` (a discoverable, user-verified
    credential; none of ``existing`` again), and their challenge."""
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=_RP_NAME,
        user_id=operator_id.encode(),
        user_name=email,
        user_display_name=name,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=_unb64url(c)) for c in existing],
    )
    return options_to_json_dict(options), options.challenge


def authentication_options(rp: RelyingParty) -> tuple[dict[str, Any], bytes]:
    """Options for ``navigator.credentials.get``: any passkey of this site (usernameless)."""
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options), options.challenge


def challenge_of(credential: dict[str, Any]) -> bytes | None:
    """The challenge a browser's answer claims to answer (checked again on verifying)."""
    try:
        client_data = json.loads(_unb64url(credential["response"]["clientDataJSON"]))
        return _unb64url(client_data["challenge"])
    except (KeyError, TypeError, ValueError, binascii.Error, AttributeError):
        return None


def credential_id_of(credential: dict[str, Any]) -> str | None:
    """The credential id of an answer, normalised to unpadded base64url."""
    raw = credential.get("rawId") or credential.get("id")
    if not isinstance(raw, str) or not raw or len(raw) > 1400:
        return None
    try:
        return b64url(_unb64url(raw))
    except (ValueError, binascii.Error):
        return None


def verify_registration(
    rp: RelyingParty, credential: dict[str, Any], challenge: bytes
) -> NewPasskey | None:
    """The new passkey, if the answer is for ``challenge``, this RP and origin, and the
    user was verified; None otherwise."""
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        return None
    transports = credential.get("response", {}).get("transports") or []
    return NewPasskey(
        credential_id=b64url(verified.credential_id),
        public_key=b64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=[t for t in transports if isinstance(t, str)][:8],
    )


def verify_login(
    rp: RelyingParty,
    credential: dict[str, Any],
    challenge: bytes,
    public_key: str,
    sign_count: int,
) -> int | None:
    """The authenticator's new sign count, if the answer is signed by the passkey's key
    for ``challenge``, this RP and origin, with the user verified and the counter moved
    on (a counter that did not: a cloned authenticator); None otherwise."""
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=_unb64url(public_key),
            credential_current_sign_count=sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        return None
    return int(verified.new_sign_count)
