"""Single sign-on with OpenID Connect, the relying party's side (ADR 0029).

Authlib does the protocol: the authorization URL with PKCE (S256), the code exchange's
request and the client's authentication, and the ID token's claims (``CodeIDToken``: ``iss``,
``aud``, ``azp``, ``exp``, ``iat``, ``nonce``, ``at_hash``); joserfc, which Authlib builds
on, checks the token's signature with the issuer's published keys (JWKS). The requests
themselves go out with httpx (Authlib's own httpx client now wants httpx2).

- **Discovery** (``{issuer}/.well-known/openid-configuration``) and the JWKS are
  fetched once and kept for an hour. A token signed with a key id the cached set
  lacks makes one early refetch (key rotation), at most once a minute. A failed
  fetch is not cached: the next sign-in tries again.
- **Signatures**: asymmetric algorithms only (never ``none``, never HMAC with the
  client secret), of those the issuer says it uses (RS256 when it says nothing).
- **The flow's secrets** (``state``, ``nonce``, the PKCE verifier) travel in a
  short-lived cookie signed with a key derived from ``CHATDESK_SECRET_KEY``
  (:class:`FlowCookie`); HttpOnly, SameSite=Lax (the callback is a top-level GET from
  the issuer), valid ten minutes and only on ``/auth/oidc``. The callback's ``state``
  must equal the cookie's, so a callback started in another browser (login CSRF)
  fails.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from authlib.oauth2.auth import (
    encode_client_secret_basic,
    encode_client_secret_post,
    encode_none,
)
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, OctKey
from joserfc.jws import JWSRegistry

# httpx is imported when a request goes out: importing it pulls its command line's
# dependencies (rich, 4 MiB) into every server, configured for single sign-on or not.
if TYPE_CHECKING:
    import httpx

__all__ = [
    "FLOW_SECONDS",
    "FlowCookie",
    "FlowState",
    "LogoutToken",
    "OidcClient",
    "OidcError",
    "Tokens",
]

FLOW_SECONDS = 600  # from the sign-in button to the callback
METADATA_SECONDS = 3600.0
JWKS_REFETCH_SECONDS = 60.0
HTTP_TIMEOUT = 10.0  # seconds, each request to the provider
LEEWAY_SECONDS = 60  # clock skew allowed on exp, iat and nbf
MAX_AGE_SECONDS = 600  # an ID token issued longer ago than this is refused
# OpenID Connect Back-Channel Logout 1.0: the ``events`` member a logout token carries.
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TYPES = ("logout+jwt", "application/logout+jwt", "jwt")  # ``typ``, when present
# What the JOSE library may raise on a token it cannot take: a refusal, never a 500.
REFUSALS = (JoseError, ValueError, TypeError, KeyError, AttributeError)
ASYMMETRIC = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class OidcError(Exception):
    """A sign-in that cannot go on. ``reason`` is one of the sign-in page's messages
    ("unavailable", "provider", "token"); the text is for the log only."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


@dataclass(frozen=True)
class FlowState:
    """One sign-in attempt's secrets, kept in the browser's flow cookie."""

    state: str
    nonce: str
    verifier: str
    next: str


class FlowCookie:
    """The flow cookie's value: a JWT (HS256) under a key of its own, expiring."""

    def __init__(self, secret: str) -> None:
        key = hmac.new(secret.encode(), b"chatdesk/oidc-flow", hashlib.sha256).digest()
        self._key = OctKey.import_key(key)

    def new(self, next_url: str) -> FlowState:
        return FlowState(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            # RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]; 64 random bytes.
            verifier=secrets.token_urlsafe(64),
            next=next_url,
        )

    def dump(self, flow: FlowState, now: int) -> str:
        claims = {
            "st": flow.state,
            "n": flow.nonce,
            "v": flow.verifier,
            "nx": flow.next,
            "exp": now + FLOW_SECONDS,
        }
        return jwt.encode({"alg": "HS256"}, claims, self._key, algorithms=["HS256"])

    def load(self, value: str, now: int) -> FlowState | None:
        """The flow behind a cookie; None when it is forged, altered or expired."""
        try:
            token = jwt.decode(value, self._key, algorithms=["HS256"])
            jwt.JWTClaimsRegistry(now=now, exp={"essential": True}).validate(token.claims)
            claims = token.claims
            return FlowState(
                state=str(claims["st"]),
                nonce=str(claims["n"]),
                verifier=str(claims["v"]),
                next=str(claims["nx"]),
            )
        except (JoseError, KeyError, ValueError):
            return None


@dataclass
class Tokens:
    """What the token endpoint gave back, the ID token's claims verified."""

    claims: dict[str, Any]


@dataclass(frozen=True)
class LogoutToken:
    """A verified back-channel logout token: whose sessions end (the provider's subject,
    its session, or both) and when the provider issued it (seconds since the epoch)."""

    sub: str | None
    sid: str | None
    issued_at: int


@dataclass
class _Cache:
    metadata: dict[str, Any] | None = None
    jwks: dict[str, Any] | None = None
    fetched_at: float = 0.0
    jwks_fetched_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class OidcClient:
    """The relying party for one issuer and client; one per app (it caches discovery)."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self._transport = transport
        self._cache = _Cache()

    def _http(self) -> httpx.AsyncClient:
        import httpx

        return httpx.AsyncClient(timeout=httpx.Timeout(HTTP_TIMEOUT), transport=self._transport)

    async def _get_json(self, url: str) -> dict[str, Any]:
        import httpx

        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError("unavailable", f"{url}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(body, dict):
            raise OidcError("unavailable", f"{url}: not a JSON object")
        return body

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document, cached for an hour."""
        cache = self._cache
        if cache.metadata is not None and time.monotonic() - cache.fetched_at < METADATA_SECONDS:
            return cache.metadata
        async with cache.lock:
            if (
                cache.metadata is not None
                and time.monotonic() - cache.fetched_at < METADATA_SECONDS
            ):
                return cache.metadata
            url = self.issuer + "/.well-known/openid-configuration"
            found = await self._get_json(url)
            if str(found.get("issuer", "")).rstrip("/") != self.issuer:
                raise OidcError(
                    "unavailable", f"{url} names another issuer: {found.get('issuer')!r}"
                )
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(name), str) or not found[name]:
                    raise OidcError("unavailable", f"{url} has no {name}")
            jwks = await self._get_json(found["jwks_uri"])
            cache.metadata, cache.jwks = found, jwks
            cache.fetched_at = cache.jwks_fetched_at = time.monotonic()
            return found

    async def _refetch_jwks(self) -> bool:
        """Fetch the JWKS again (a key id we lack); False when it was fetched just now."""
        cache = self._cache
        async with cache.lock:
            if time.monotonic() - cache.jwks_fetched_at < JWKS_REFETCH_SECONDS:
                return False
            assert cache.metadata is not None
            cache.jwks = await self._get_json(cache.metadata["jwks_uri"])
            cache.jwks_fetched_at = time.monotonic()
            return True

    def _client_auth(self, metadata: dict[str, Any]) -> Any:
        """How the client authenticates at the token endpoint (Authlib's encoders)."""
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if not self.client_secret:
            return encode_none
        if "client_secret_basic" in methods:
            return encode_client_secret_basic
        return encode_client_secret_post

    async def authorization_url(self, flow: FlowState, redirect_uri: str) -> str:
        """Where to send the browser: the issuer's authorization endpoint, with the
        flow's state, nonce and PKCE challenge."""
        metadata = await self.metadata()
        url: str = prepare_grant_uri(
            metadata["authorization_endpoint"],
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope="openid email profile",
            state=flow.state,
            nonce=flow.nonce,
            code_challenge=create_s256_code_challenge(flow.verifier),
            code_challenge_method="S256",
        )
        return url

    async def finish(self, code: str, flow: FlowState, redirect_uri: str, now: int) -> Tokens:
        """Exchange the code (with the PKCE verifier) and verify the ID token."""
        metadata = await self.metadata()
        url = metadata["token_endpoint"]
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=flow.verifier
        )
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        url, headers, body = self._client_auth(metadata)(self, "POST", url, headers, body)
        import httpx

        try:
            async with self._http() as http:
                response = await http.post(url, content=body, headers=headers)
            token = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError("provider", f"token endpoint: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200 or not isinstance(token, dict):
            error = token.get("error") if isinstance(token, dict) else None
            raise OidcError("provider", f"token endpoint: {response.status_code} {error!r}")
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("token", "the token endpoint sent no ID token")
        access_token = token.get("access_token")
        access = access_token if isinstance(access_token, str) else None
        claims = await self._verify(id_token, flow.nonce, access, now)
        return Tokens(claims)

    def _registry(self) -> JWSRegistry:
        assert self._cache.metadata is not None
        offered = self._cache.metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in offered if alg in ASYMMETRIC]
        if not algorithms:
            raise OidcError("token", f"the issuer signs ID tokens with none of {ASYMMETRIC}")
        return JWSRegistry(algorithms=algorithms, strict_check_header=False)

    def _decode(self, id_token: str) -> Any:
        keys = KeySet.import_key_set(cast(Any, self._cache.jwks or {"keys": []}))
        return jwt.decode(id_token, keys, registry=self._registry())

    async def _signed_by_issuer(self, token: str) -> Any:
        """``token`` decoded, its signature checked with the issuer's keys (fetched again
        once when it names a key id the cached set lacks)."""
        try:
            return self._decode(token)
        except InvalidKeyIdError:
            if not await self._refetch_jwks():
                raise
            return self._decode(token)

    async def _verify(
        self, id_token: str, nonce: str, access_token: str | None, now: int
    ) -> dict[str, Any]:
        try:
            decoded = await self._signed_by_issuer(id_token)
            assert self._cache.metadata is not None
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.client_id}
            if access_token:
                params["access_token"] = access_token
            options: dict[str, Any] = {
                "iss": {"essential": True, "value": self._cache.metadata["issuer"]},
                "aud": {"essential": True, "value": self.client_id},
                "nonce": {"essential": True},
            }
            claims = CodeIDToken(decoded.claims, decoded.header, options, params)
            claims.validate(now=now, leeway=LEEWAY_SECONDS)
        except REFUSALS as exc:
            raise OidcError("token", f"ID token refused: {type(exc).__name__}: {exc}") from exc
        issued = claims.get("iat")
        if not isinstance(issued, int | float) or issued < now - MAX_AGE_SECONDS - LEEWAY_SECONDS:
            raise OidcError("token", "ID token refused: issued too long ago")
        return dict(claims)

    async def verify_logout(self, logout_token: str, now: int) -> LogoutToken:
        """Verify a back-channel logout token (OpenID Connect Back-Channel Logout 1.0,
        section 2.6): signed like an ID token by the issuer's keys, ``iss`` the issuer's,
        ``aud`` naming this client, ``iat`` neither in the future nor older than ten
        minutes, a ``jti``, the back-channel logout event, ``sub`` or ``sid`` (both
        strings), and no ``nonce`` (so an ID token cannot pass for one)."""
        if not _looks_signed(logout_token):
            raise OidcError("token", "logout token refused: not a signed JWT")
        await self.metadata()
        try:
            decoded = await self._signed_by_issuer(logout_token)
            claims = decoded.claims
            # Checks ``exp`` when present (a logout token need not carry one).
            jwt.JWTClaimsRegistry(now=now, leeway=LEEWAY_SECONDS).validate(claims)
        except REFUSALS as exc:
            raise OidcError("token", f"logout token refused: {type(exc).__name__}: {exc}") from exc
        typ = decoded.header.get("typ")
        if typ is not None and str(typ).lower() not in LOGOUT_TYPES:
            raise OidcError("token", f"logout token refused: typ {typ!r}")
        assert self._cache.metadata is not None
        problem = _logout_claims_problem(
            claims, self._cache.metadata["issuer"], self.client_id, now
        )
        if problem:
            raise OidcError("token", f"logout token refused: {problem}")
        sub, sid = claims.get("sub"), claims.get("sid")
        return LogoutToken(sub=sub, sid=sid, issued_at=int(claims["iat"]))


def _looks_signed(token: str) -> bool:
    """Whether ``token`` has a JWS's shape, with a header object naming an asymmetric
    algorithm: checked before anything goes out to the provider."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts) or len(token) > 8192:
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and header.get("alg") in ASYMMETRIC


def _logout_claims_problem(claims: dict[str, Any], issuer: str, client_id: str, now: int) -> str:
    """What is wrong with a logout token's claims; "" when nothing is."""
    if claims.get("iss") != issuer:
        return "another issuer"
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        return "not for this client"
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, int | float):
        return "no iat"
    if issued > now + LEEWAY_SECONDS:
        return "issued in the future"
    if issued < now - MAX_AGE_SECONDS - LEEWAY_SECONDS:
        return "issued too long ago"
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        return "no jti"
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        return "not a back-channel logout event"
    if "nonce" in claims:
        return "a nonce (an ID token?)"
    sub, sid = claims.get("sub"), claims.get("sid")
    if sub is None and sid is None:
        return "neither sub nor sid"
    for name, value in (("sub", sub), ("sid", sid)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
            return f"{name} is not a string of 1 to 255 characters"
    return ""
