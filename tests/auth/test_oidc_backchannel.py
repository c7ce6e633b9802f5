"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0, ADR 0034): the identity
provider posts a signed logout token and the single sign-on sessions it names end.

A real provider on loopback (tests/auth/oidc_provider.py) signs real RS256 tokens;
chatdesk runs over ASGI, and on a live server where a stream must end."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import create_engine, select, update

from chatdesk.app import create_app
from chatdesk.db.tables import audit_log, operator_sessions
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.auth.oidc_provider import (
    CLIENT_SECRET,
    Provider,
    running_provider,
    start_provider,
    with_sso,
)
from tests.auth.test_oidc import sso_sign_in
from tests.conftest import LiveServer
from tests.factories import Operator, add_operator, login, services_db
from tests.realtime.conftest import ends_within, sse_frames

provider_fixture = pytest.fixture(running_provider, name="provider")

PATH = "/auth/oidc/backchannel-logout"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def sso(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(with_sso(settings, provider))) as client:
        yield client


def _operator(client: TestClient, provider: Provider) -> Operator:
    made = add_operator(services_db(client), "agent", email=f"agent-{time.time_ns()}@example.com")
    provider.user["email"] = made.email
    return made


def _sso_session(client: TestClient) -> str:
    """Sign in by single sign-on in a fresh cookie jar; the session cookie."""
    client.cookies.clear()
    answer = sso_sign_in(client)
    assert answer.status_code == 303, answer.text
    token = client.cookies.get("chatdesk_session")
    assert token
    return token


def _password_session(client: TestClient, operator: Operator) -> str:
    client.cookies.clear()
    login(client, operator)
    token = client.cookies.get("chatdesk_session")
    assert token
    return token


def _alive(client: TestClient, session: str) -> bool:
    client.cookies.clear()
    client.cookies.set("chatdesk_session", session)
    status = client.get("/api/v1/auth/me").status_code
    client.cookies.clear()
    assert status in (200, 401)
    return status == 200


def _post(client: TestClient, token: str) -> httpx.Response:
    client.cookies.clear()
    return client.post(PATH, content=f"logout_token={token}", headers=FORM)


def _logouts(settings: Settings, operator_id: str) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            query = select(audit_log.c.details).where(
                audit_log.c.action == "auth.logout", audit_log.c.operator_id == operator_id
            )
            return [row.details for row in conn.execute(query)]
    finally:
        engine.dispose()


def test_a_logout_naming_the_providers_session_ends_that_session_only(
    sso: TestClient, provider: Provider, settings: Settings
) -> None:
    agent = _operator(sso, provider)
    first, second = _sso_session(sso), _sso_session(sso)
    by_password = _password_session(sso, agent)
    assert len(provider.sids) == 2

    answer = _post(sso, provider.logout_token(sub="user-1", sid=provider.sids[0]))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.content == b""
    assert not _alive(sso, first)
    assert _alive(sso, second)
    assert _alive(sso, by_password)
    assert _logouts(settings, agent.id) == [{"method": "oidc_backchannel", "sessions": 1}]


def test_a_logout_naming_only_the_subject_ends_all_its_single_sign_ons(
    sso: TestClient, provider: Provider, settings: Settings
) -> None:
    agent = _operator(sso, provider)
    first, second = _sso_session(sso), _sso_session(sso)
    by_password = _password_session(sso, agent)
    provider.user["sub"] = "someone-else"
    _operator(sso, provider)
    other = _sso_session(sso)

    answer = _post(sso, provider.logout_token(sub="user-1"))
    assert answer.status_code == 200, answer.text
    assert not _alive(sso, first)
    assert not _alive(sso, second)
    assert _alive(sso, by_password)  # not signed in by the provider
    assert _alive(sso, other)  # another subject
    assert _logouts(settings, agent.id) == [{"method": "oidc_backchannel", "sessions": 2}]

    # A session id alone is enough, and a token for sessions no longer open is still 200.
    answer = _post(sso, provider.logout_token(sid=provider.sids[-1]))
    assert answer.status_code == 200
    assert not _alive(sso, other)
    assert _post(sso, provider.logout_token(sub="user-1")).status_code == 200


def test_a_replayed_token_spares_sessions_signed_in_since(
    sso: TestClient, provider: Provider, settings: Settings
) -> None:
    _operator(sso, provider)
    earlier, later = _sso_session(sso), _sso_session(sso)
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(operator_sessions)
                .where(operator_sessions.c.oidc_sid == provider.sids[0])
                .values(created_at=datetime.now(UTC) - timedelta(minutes=5))
            )
    finally:
        engine.dispose()
    # Issued three minutes ago: the session signed in since (beyond a minute's skew)
    # is not the one the provider meant.
    token = provider.logout_token(sub="user-1", iat=int(time.time()) - 180)
    assert _post(sso, token).status_code == 200
    assert not _alive(sso, earlier)
    assert _alive(sso, later)


def _hs256_with_client_secret(provider: Provider) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.url,
        "aud": "chatdesk-test",
        "iat": now,
        "jti": "j1",
        "sub": "user-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    key = OctKey.import_key(CLIENT_SECRET.encode())
    return jwt.encode({"alg": "HS256"}, claims, key, algorithms=["HS256"])


def _unsigned(provider: Provider) -> str:
    signed = provider.logout_token(sub="user-1")
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    return f"{header}.{signed.split('.')[1]}."


def _with_header(header: object) -> Any:
    """A token whose header is ``header`` (any JSON), the provider's claims and signature."""

    def make(provider: Provider) -> str:
        signed = provider.logout_token(sub="user-1").split(".")
        encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
        return ".".join([encoded, signed[1], signed[2]])

    return make


BAD_TOKENS: dict[str, Any] = {
    "another key, same key id": lambda p: p.logout_token(sub="user-1", sign_with="other"),
    "a key id not published": lambda p: p.logout_token(sub="user-1", sign_with="unknown"),
    "HS256 with the client secret": _hs256_with_client_secret,
    "alg none": _unsigned,
    "another issuer": lambda p: p.logout_token(sub="user-1", iss="https://evil.example"),
    "another audience": lambda p: p.logout_token(sub="user-1", aud="someone-else"),
    "no audience": lambda p: p.logout_token(sub="user-1", aud=None),
    "no event": lambda p: p.logout_token(sub="user-1", events=None),
    "another event": lambda p: p.logout_token(sub="user-1", events={"urn:other": {}}),
    "an event that is not an object": lambda p: p.logout_token(
        sub="user-1", events={"http://schemas.openid.net/event/backchannel-logout": "yes"}
    ),
    "a nonce": lambda p: p.logout_token(sub="user-1", nonce="n"),
    "no jti": lambda p: p.logout_token(sub="user-1", jti=None),
    "neither sub nor sid": lambda p: p.logout_token(),
    "a sub that is not a string": lambda p: p.logout_token(sub=cast(str, 7)),
    "no iat": lambda p: p.logout_token(sub="user-1", iat=None),
    "issued long ago": lambda p: p.logout_token(sub="user-1", iat=int(time.time()) - 3600),
    "issued in the future": lambda p: p.logout_token(sub="user-1", iat=int(time.time()) + 600),
    "expired": lambda p: p.logout_token(sub="user-1", exp=int(time.time()) - 600),
    "typed as an access token": lambda p: p.logout_token(sub="user-1", typ="at+jwt"),
    "an ID token": lambda p: p.logout_token(sub="user-1", events=None, nonce="n", jti=None),
    "not a JWT": lambda p: "not-a-jwt",
    "two parts": lambda p: ".".join(p.logout_token(sub="user-1").split(".")[:2]),
    "a header that is a list": _with_header(["alg"]),
    "a header that is a string": _with_header("alg"),
    "a header naming HS256": _with_header({"alg": "HS256", "kid": "k1"}),
    "a header without alg": _with_header({"kid": "k1"}),
    "a header that is not base64": lambda p: "%%%." + p.logout_token(sub="user-1").split(".", 1)[1],
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_token_is_refused_and_ends_nothing(
    sso: TestClient, provider: Provider, case: str
) -> None:
    _operator(sso, provider)
    session = _sso_session(sso)
    answer = _post(sso, BAD_TOKENS[case](provider))
    assert_error(answer, 400, "logout_token_invalid")
    assert _alive(sso, session)


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        ("", FORM, "bad_request"),
        ("logout_token=", FORM, "bad_request"),
        ("other=1", FORM, "bad_request"),
        ("logout_token=a&logout_token=b", FORM, "bad_request"),
        ('{"logout_token": "x"}', {"Content-Type": "application/json"}, "bad_request"),
        ("logout_token=x", {}, "bad_request"),
        ("logout_token=" + "a" * 20_000, FORM, "bad_request"),
        ("logout_token=%FF%FE", FORM, "logout_token_invalid"),
        ("logout_token=a.b.c", FORM, "logout_token_invalid"),
    ],
)
def test_a_malformed_request_gets_a_clear_400(
    sso: TestClient, body: str, headers: dict[str, str], code: str
) -> None:
    assert_error(sso.post(PATH, content=body.encode(), headers=headers), 400, code)


def test_a_session_whose_id_token_had_no_sid_ends_by_its_subject(
    sso: TestClient, provider: Provider
) -> None:
    _operator(sso, provider)
    provider.claims_override["sid"] = None  # this provider's ID tokens carry no sid
    without_sid = _sso_session(sso)
    provider.claims_override.clear()
    with_sid = _sso_session(sso)
    # A logout naming the subject and another provider session: the session without a
    # sid is the subject's and ends; the one of another provider session stays.
    assert _post(sso, provider.logout_token(sub="user-1", sid="another")).status_code == 200
    assert not _alive(sso, without_sid)
    assert _alive(sso, with_sid)


def test_an_unreachable_provider_gets_a_503_and_ends_nothing(settings: Settings) -> None:
    provider, server = start_provider()
    token = provider.logout_token(sub="user-1")
    with TestClient(create_app(with_sso(settings, provider))) as client:
        server.stop()  # before chatdesk fetched its keys
        answer = client.post(PATH, content=f"logout_token={token}", headers=FORM)
    error = assert_error(answer, 503, "unavailable")
    assert error["details"]["retry_after"] >= 1


def test_without_single_sign_on_there_is_no_logout_endpoint(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        answer = client.post(PATH, content=b"logout_token=x", headers=FORM)
    assert_error(answer, 404, "not_found")


def test_the_signed_out_operators_stream_ends_at_once(
    settings: Settings, provider: Provider
) -> None:
    app = create_app(with_sso(settings, provider))
    server = LiveServer(lambda: app)
    server.start()
    try:
        made = add_operator(app.state.services.db, "agent", email="live@example.com")
        provider.user["email"] = made.email
        with httpx.Client(base_url=server.url, timeout=10) as browser:
            started = browser.get("/auth/oidc/login", follow_redirects=False)
            assert started.status_code == 302, started.text
            with httpx.Client(timeout=10) as at_provider:
                back = at_provider.get(started.headers["location"], follow_redirects=False)
            assert back.status_code == 302
            signed_in = browser.get(back.headers["location"], follow_redirects=False)
            assert signed_in.status_code == 303, signed_in.text
            assert browser.get("/api/v1/auth/me").json()["operator"]["id"] == made.id
            headers = {"Accept": "text/event-stream"}
            with browser.stream("GET", "/api/v1/events", headers=headers) as response:
                assert response.status_code == 200
                frames = sse_frames(response)
                assert next(frames).retry is not None
                with httpx.Client(base_url=server.url, timeout=10) as idp:
                    token = provider.logout_token(sid=provider.sids[-1])
                    answer = idp.post(PATH, content=f"logout_token={token}", headers=FORM)
                assert answer.status_code == 200, answer.text
                ends_within(frames, 3, "the stream outlived the logout")
            assert browser.get("/api/v1/auth/me").status_code == 401
    finally:
        server.stop()
