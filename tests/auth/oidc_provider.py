"""A small OpenID Connect provider for the tests, served by uvicorn on loopback.

It signs real RS256 ID tokens with RSA keys of its own (joserfc) and checks what a
provider checks: the client's id, secret and redirect URI, the authorization code
(single-use, short-lived) and the PKCE verifier against the S256 challenge (Authlib's
``compare_s256_code_challenge``). Discovery and JWKS are served as a real issuer
serves them. ``/authorize`` approves its configured user at once (no login form).

Tests steer it through attributes: ``user`` (the claims of whoever signs in),
``claims_override`` (claims forced into the next ID tokens: a wrong ``aud``, an old
``exp``, another ``nonce``), ``sign_with`` ("own", "other" for another key under the
same key id, "unknown" for another key under a key id not published), and ``deny``
(``/authorize`` answers ``error=access_denied``). Each sign-in gets a session id
(``sid``, kept in ``sids``); ``logout_token`` makes what the provider would post to a
client's back-channel logout URI.
"""

from __future__ import annotations

import base64
import functools
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from chatdesk.settings import Settings
from tests.conftest import LiveServer

CLIENT_ID = "chatdesk-test"
CLIENT_SECRET = "provider-secret-" + secrets.token_urlsafe(8)


@functools.cache
def _keys() -> tuple[RSAKey, RSAKey]:
    """The provider's signing key and another under the same key id (made once a run)."""
    return RSAKey.generate_key(2048, {"kid": "k1"}), RSAKey.generate_key(2048, {"kid": "k1"})


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str
    method: str
    expires: float
    used: bool = False


@dataclass
class Provider:
    """The provider's state; ``url`` is its issuer once started."""

    url: str = ""
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "user-1",
            "email": "sso.user@example.com",
            "email_verified": True,
            "name": "Sso User",
        }
    )
    claims_override: dict[str, Any] = field(default_factory=dict)
    sign_with: str = "own"
    deny: bool = False
    key: RSAKey = field(default_factory=lambda: _keys()[0])
    other_key: RSAKey = field(default_factory=lambda: _keys()[1])
    grants: dict[str, Grant] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: int = 0
    discovery_requests: int = 0
    # The provider's session id (``sid``) of each sign-in, in order.
    sids: list[str] = field(default_factory=list)

    # -- endpoints ---------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        self.discovery_requests += 1
        return JSONResponse(
            {
                "issuer": self.url,
                "authorization_endpoint": self.url + "/authorize",
                "token_endpoint": self.url + "/token",
                "jwks_uri": self.url + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "email", "profile"],
                "backchannel_logout_supported": True,
                "backchannel_logout_session_supported": True,
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.endswith("/auth/oidc/callback"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        state = params.get("state", "")
        if self.deny:
            query = urlencode({"error": "access_denied", "state": state})
            return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            client_id=CLIENT_ID,
            redirect_uri=redirect_uri,
            nonce=params.get("nonce"),
            challenge=params["code_challenge"],
            method=params["code_challenge_method"],
            expires=time.time() + 60,
        )
        query = urlencode({"code": code, "state": state})
        return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id == CLIENT_ID and secrets.compare_digest(secret, CLIENT_SECRET)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = {key: str(value) for key, value in (await request.form()).items()}
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.grants.get(form.get("code", ""))
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or grant.used
            or grant.expires < time.time()
            or grant.redirect_uri != form.get("redirect_uri")
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        grant.used = True
        verifier = form.get("code_verifier", "")
        if not verifier or not compare_s256_code_challenge(verifier, grant.challenge):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        self.sids.append(secrets.token_urlsafe(12))
        claims = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "sid": self.sids[-1],
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **self.user,
            **self.claims_override,
        }
        id_token = self._sign(claims, self.sign_with)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
            headers={"Cache-Control": "no-store"},
        )

    def _sign(self, claims: dict[str, Any], sign_with: str, typ: str | None = None) -> str:
        key = {"own": self.key, "other": self.other_key}.get(sign_with)
        if key is None:  # "unknown": a key id the JWKS does not publish
            key = RSAKey.generate_key(2048, {"kid": "k-unknown"})
        header = {"alg": "RS256", "kid": key.kid, **({"typ": typ} if typ else {})}
        return jwt.encode(header, claims, key, algorithms=["RS256"])

    def logout_token(
        self,
        *,
        sub: str | None = None,
        sid: str | None = None,
        sign_with: str = "own",
        typ: str | None = "logout+jwt",
        **override: Any,
    ) -> str:
        """A back-channel logout token as the provider sends it (OpenID Connect
        Back-Channel Logout 1.0), naming ``sub`` and/or ``sid``; ``override`` replaces
        or, with None, removes claims."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(12),
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            **({"sub": sub} if sub is not None else {}),
            **({"sid": sid} if sid is not None else {}),
        }
        for name, value in override.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self._sign(claims, sign_with, typ)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


def start_provider() -> tuple[Provider, LiveServer]:
    provider = Provider()
    server = LiveServer(provider.app)
    provider.url = server.url
    server.start()
    return provider, server


def running_provider() -> Iterator[Provider]:
    """The provider, started on a free loopback port, for a test module's fixture:
    ``provider = pytest.fixture(running_provider, name="provider")``."""
    started, server = start_provider()
    yield started
    server.stop()


def with_sso(settings: Settings, provider: Provider, **more: Any) -> Settings:
    """``settings`` with single sign-on at ``provider`` (and any other changes)."""
    changes = {
        "oidc_issuer": provider.url,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": SecretStr(CLIENT_SECRET),
        **more,
    }
    return Settings(**{**_plain(settings), **changes})


def _plain(settings: Settings) -> dict[str, Any]:
    """The settings as keyword arguments (their secrets unwrapped, so validators run)."""
    values = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        values[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return values
