"""Single sign-on with OpenID Connect (ADR 0029) against a real provider on loopback
(tests/auth/oidc_provider.py): chatdesk's app over ASGI, the provider over real HTTP,
real RS256 tokens. The browser's part (following redirects, carrying cookies) is
played by the test client and an httpx client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from chatdesk.app import create_app
from chatdesk.db.tables import audit_log, operators, site_operators
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.auth.oidc_provider import Provider, running_provider, with_sso
from tests.conftest import free_port
from tests.factories import Operator, add_operator, create_site, csrf, login, services_db

provider_fixture = pytest.fixture(running_provider, name="provider")


@pytest.fixture
def sso(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    with TestClient(create_app(with_sso(settings, provider))) as client:
        yield client


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def _start(client: TestClient, path: str = "/auth/oidc/login") -> httpx.Response:
    started = client.get(path, follow_redirects=False)
    assert started.status_code == 302, started.text
    return started


def _at_provider(location: str) -> httpx.Response:
    """The browser at the provider: it approves at once and sends it back."""
    with httpx.Client(timeout=10) as browser:
        answer = browser.get(location, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer


def _callback_path(answer: httpx.Response) -> str:
    back = urlsplit(answer.headers["location"])
    assert back.netloc == "testserver" and back.path == "/auth/oidc/callback"
    return f"{back.path}?{back.query}"


def sso_sign_in(client: TestClient, path: str = "/auth/oidc/login") -> httpx.Response:
    """The whole round trip; the callback's answer (not followed)."""
    answer = _at_provider(_start(client, path).headers["location"])
    return client.get(_callback_path(answer), follow_redirects=False)


def _failed(answer: httpx.Response, reason: str) -> None:
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(f"/admin/login?sso={reason}")
    assert "chatdesk_session" not in answer.headers.get("set-cookie", "")


def _me(client: TestClient) -> httpx.Response:
    return client.get("/api/v1/auth/me")


def _rows(settings: Settings, query: Any) -> list[Any]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query))
    finally:
        engine.dispose()


def _operator(client: TestClient, provider: Provider, role: str = "agent") -> Operator:
    made = add_operator(services_db(client), role, email=f"{role}-{time.time_ns()}@example.com")
    provider.user["email"] = made.email
    return made


# -- the happy path ---------------------------------------------------------------


def test_sign_in_round_trip_gives_a_working_session(
    sso: TestClient, provider: Provider, settings: Settings
) -> None:
    agent = _operator(sso, provider)
    started = _start(sso)
    target = urlsplit(started.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == provider.url
    assert target.path == "/authorize"
    params = {key: values[0] for key, values in parse_qs(target.query).items()}
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43  # base64url of a SHA-256
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert params["redirect_uri"] == "http://testserver/auth/oidc/callback"
    assert set(params["scope"].split()) == {"openid", "email", "profile"}
    flow_cookie = started.headers["set-cookie"]
    assert "chatdesk_oidc=" in flow_cookie and "HttpOnly" in flow_cookie
    assert "Path=/auth/oidc" in flow_cookie and "SameSite=lax" in flow_cookie
    assert started.headers["cache-control"] == "no-store"

    back = sso.get(
        _callback_path(_at_provider(started.headers["location"])), follow_redirects=False
    )
    assert back.status_code == 303 and back.headers["location"] == "/admin"
    session_cookie = [c for c in back.headers.get_list("set-cookie") if "chatdesk_session=" in c]
    assert session_cookie and "HttpOnly" in session_cookie[0] and "Path=/" in session_cookie[0]
    assert provider.token_requests == 1  # the PKCE verifier matched: a token was issued
    me = _me(sso)
    assert me.status_code == 200, me.text
    assert me.json()["operator"]["email"] == agent.email
    # The CSRF token comes as after a password sign-in, and guards writes the same way.
    token = me.json()["csrf_token"]
    assert sso.patch("/api/v1/auth/me", json={"name": "Renamed"}).status_code == 403
    changed = sso.patch(
        "/api/v1/auth/me", json={"name": "Renamed"}, headers={"X-CSRF-Token": token}
    )
    assert changed.status_code == 200, changed.text
    logins = _rows(
        settings,
        select(audit_log.c.details).where(
            audit_log.c.action == "auth.login", audit_log.c.operator_id == agent.id
        ),
    )
    assert [row.details for row in logins] == [{"method": "oidc"}]


def test_sign_in_returns_to_the_page_it_started_from(sso: TestClient, provider: Provider) -> None:
    _operator(sso, provider)
    back = sso_sign_in(sso, "/auth/oidc/login?next=/admin/account")
    assert back.status_code == 303 and back.headers["location"] == "/admin/account"
    # Anywhere but a console page is not a place to go back to.
    sso.cookies.clear()
    back = sso_sign_in(sso, "/auth/oidc/login?next=https://evil.example.com/")
    assert back.headers["location"] == "/admin"


def test_discovery_is_fetched_once_and_kept(sso: TestClient, provider: Provider) -> None:
    _operator(sso, provider)
    for _ in range(3):
        sso.cookies.clear()
        assert sso_sign_in(sso).headers["location"] == "/admin"
    assert provider.discovery_requests == 1


def test_a_two_factor_operator_is_not_asked_for_a_code(sso: TestClient, provider: Provider) -> None:
    owner = login(sso, _operator(sso, provider, "owner"))
    secret = sso.post("/api/v1/auth/totp/setup", headers=csrf(owner)).json()["secret"]
    on = sso.post(
        "/api/v1/auth/totp/enable", json={"code": pyotp.TOTP(secret).now()}, headers=csrf(owner)
    )
    assert on.status_code == 200, on.text
    sso.cookies.clear()
    assert sso_sign_in(sso).headers["location"] == "/admin"
    assert _me(sso).json()["operator"]["email"] == owner.email


def test_a_single_sign_on_meets_the_two_factor_rule(sso: TestClient, provider: Provider) -> None:
    """Under the owners' two-factor rule (ADR 0030) a password session without a second
    factor is held back, but the identity provider's sign-in counts as one (ADR 0029)."""
    owner = login(sso, add_operator(services_db(sso), "owner"))
    secret = sso.post("/api/v1/auth/totp/setup", headers=csrf(owner)).json()["secret"]
    code = {"code": pyotp.TOTP(secret).now()}
    assert sso.post("/api/v1/auth/totp/enable", json=code, headers=csrf(owner)).status_code == 200
    rule = sso.patch("/api/v1/security-policy", json={"require_totp": True}, headers=csrf(owner))
    assert rule.status_code == 200, rule.text
    agent = _operator(sso, provider)
    sso.cookies.clear()
    login(sso, agent)
    assert_error(sso.get("/api/v1/conversations"), 403, "totp_setup_required")
    sso.cookies.clear()
    assert sso_sign_in(sso).headers["location"] == "/admin"
    assert sso.get("/api/v1/conversations").status_code == 200
    assert sso.get("/admin", follow_redirects=False).status_code == 200


# -- the flow's own checks --------------------------------------------------------


def test_a_forged_state_is_refused(sso: TestClient, provider: Provider) -> None:
    _operator(sso, provider)
    answer = _at_provider(_start(sso).headers["location"])
    path = _callback_path(answer)
    query = parse_qs(urlsplit(path).query)
    forged = f"/auth/oidc/callback?code={query['code'][0]}&state=forged-{query['state'][0]}"
    _failed(sso.get(forged, follow_redirects=False), "expired")
    assert provider.token_requests == 0  # the code was never spent
    assert _me(sso).status_code == 401


def test_an_answer_naming_another_issuer_is_refused(sso: TestClient, provider: Provider) -> None:
    """RFC 9207's ``iss`` on the callback: another issuer's answer (a mix-up) is refused
    before its code is spent; the provider's own is accepted."""
    _operator(sso, provider)
    path = _callback_path(_at_provider(_start(sso).headers["location"]))
    _failed(sso.get(path + "&iss=https://impostor.example.com", follow_redirects=False), "provider")
    assert provider.token_requests == 0
    path = _callback_path(_at_provider(_start(sso).headers["location"]))
    answer = sso.get(path + "&iss=" + provider.url, follow_redirects=False)
    assert answer.headers["location"] == "/admin"


def test_a_callback_in_another_browser_is_refused(sso: TestClient, provider: Provider) -> None:
    """Login CSRF: a victim's browser handed the attacker's code and state, without the
    flow cookie that started it."""
    _operator(sso, provider)
    path = _callback_path(_at_provider(_start(sso).headers["location"]))
    sso.cookies.clear()
    _failed(sso.get(path, follow_redirects=False), "expired")
    assert _me(sso).status_code == 401


def test_a_callback_used_twice_is_refused(sso: TestClient, provider: Provider) -> None:
    _operator(sso, provider)
    started = _start(sso)
    flow = started.cookies["chatdesk_oidc"]
    path = _callback_path(_at_provider(started.headers["location"]))
    assert sso.get(path, follow_redirects=False).headers["location"] == "/admin"
    sso.cookies.clear()
    sso.cookies.set("chatdesk_oidc", flow, path="/auth/oidc")  # the same flow again
    _failed(sso.get(path, follow_redirects=False), "provider")  # the code is spent
    assert _me(sso).status_code == 401


def test_an_altered_flow_cookie_is_refused(sso: TestClient, provider: Provider) -> None:
    _operator(sso, provider)
    started = _start(sso)
    path = _callback_path(_at_provider(started.headers["location"]))
    flow = started.cookies["chatdesk_oidc"]
    sso.cookies.clear()
    sso.cookies.set("chatdesk_oidc", flow[:-4] + "AAAA", path="/auth/oidc")
    _failed(sso.get(path, follow_redirects=False), "expired")


@pytest.mark.parametrize(
    ("override", "sign_with"),
    [
        ({"nonce": "not-the-one-we-sent"}, "own"),
        ({"aud": "another-client"}, "own"),
        ({"aud": ["another-client", "a-third"]}, "own"),
        ({"iss": "https://impostor.example.com"}, "own"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "own"),
        ({"iat": int(time.time()) - 3600}, "own"),  # issued an hour ago, still "valid"
        ({}, "other"),  # another key under the published key id
        ({}, "unknown"),  # a key id the issuer does not publish
    ],
    ids=["nonce", "audience", "audiences", "issuer", "expired", "old", "other-key", "unknown-kid"],
)
def test_a_bad_id_token_is_refused(
    sso: TestClient, provider: Provider, override: dict[str, Any], sign_with: str
) -> None:
    _operator(sso, provider)
    provider.claims_override = override
    provider.sign_with = sign_with
    _failed(sso_sign_in(sso), "token")
    assert _me(sso).status_code == 401


def test_the_provider_refusing_ends_on_the_sign_in_page(
    sso: TestClient, provider: Provider
) -> None:
    _operator(sso, provider)
    provider.deny = True
    answer = sso_sign_in(sso)
    _failed(answer, "denied")
    page = sso.get(answer.headers["location"])
    assert "The identity provider did not sign you in." in page.text


# -- who may sign in ----------------------------------------------------------------


def test_an_unverified_email_is_refused(sso: TestClient, provider: Provider) -> None:
    _operator(sso, provider)
    provider.user["email_verified"] = False
    _failed(sso_sign_in(sso), "unverified")
    provider.user["email_verified"] = "true"  # a string is not a verified email either
    sso.cookies.clear()
    _failed(sso_sign_in(sso), "unverified")


def test_unknown_and_deactivated_get_the_same_answer(
    sso: TestClient, provider: Provider, settings: Settings
) -> None:
    owner = login(sso, add_operator(services_db(sso), "owner"))
    agent = add_operator(services_db(sso), "agent")
    off = sso.patch(f"/api/v1/operators/{agent.id}", json={"active": False}, headers=csrf(owner))
    assert off.status_code == 200, off.text
    pages = []
    for email in (agent.email, "nobody-here@example.com"):
        sso.cookies.clear()
        provider.user["email"] = email
        answer = sso_sign_in(sso)
        _failed(answer, "not_allowed")
        assert _me(sso).status_code == 401
        pages.append(sso.get(answer.headers["location"]).text)
    assert "There is no active chatdesk account for you." in pages[0]
    assert pages[0] == pages[1]
    failures = _rows(
        settings,
        select(audit_log.c.details).where(audit_log.c.action == "auth.login_failed"),
    )
    assert {row.details["email"] for row in failures} >= {agent.email, "nobody-here@example.com"}
    assert all(row.details["reason"] == "oidc" for row in failures)


def test_allowed_domains_create_agents(settings: Settings, provider: Provider) -> None:
    with _client(with_sso(settings, provider, oidc_allowed_domains="corp.example")) as client:
        owner = login(client, add_operator(services_db(client), "owner"))
        create_site(client, owner)
        client.cookies.clear()
        provider.user.update(email="New.Person@Corp.Example", name="New Person")
        assert sso_sign_in(client).headers["location"] == "/admin"
        me = _me(client).json()["operator"]
        assert me["email"] == "new.person@corp.example"
        assert me["role"] == "agent" and me["name"] == "New Person"
        made = _rows(settings, select(operators).where(operators.c.id == me["id"]))[0]
        memberships = _rows(
            settings, select(site_operators).where(site_operators.c.operator_id == me["id"])
        )
        assert memberships == []  # no site until an admin adds one
        # The next sign-in finds the same operator.
        client.cookies.clear()
        assert sso_sign_in(client).headers["location"] == "/admin"
        assert _me(client).json()["operator"]["id"] == made.id
        # Another domain, or a look-alike, gets nothing.
        for email in ("someone@other.example", "someone@corp.example.evil.com"):
            client.cookies.clear()
            provider.user["email"] = email
            _failed(sso_sign_in(client), "not_allowed")
    # Unset: nobody is created.
    with _client(with_sso(settings, provider)) as client:
        provider.user["email"] = "another.person@corp.example"
        _failed(sso_sign_in(client), "not_allowed")
    count = _rows(settings, select(operators).where(operators.c.email.like("%corp.example")))
    assert len(count) == 1


def test_password_sign_in_for_owners_only(settings: Settings, provider: Provider) -> None:
    with _client(with_sso(settings, provider, password_login="owners")) as client:
        db = services_db(client)
        owner, admin, agent = (add_operator(db, role) for role in ("owner", "admin", "agent"))
        login(client, owner)
        client.cookies.clear()
        for refused in (admin, agent):
            answer = client.post(
                "/api/v1/auth/login", json={"email": refused.email, "password": refused.password}
            )
            # The same answer as a wrong password: it tells nothing of the password.
            assert answer.status_code == 401
            assert answer.json()["error"]["message"] == "Wrong email or password."
        page = client.get("/admin/login").text
        assert "Only owners sign in with a password here" in page
        provider.user["email"] = agent.email
        assert sso_sign_in(client).headers["location"] == "/admin"
        assert _me(client).json()["operator"]["id"] == agent.id
    with _client(with_sso(settings, provider)) as client:  # "all", the default
        login(client, agent)


# -- configuration and availability ---------------------------------------------------


def test_provider_down_ends_on_the_sign_in_page(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    configured = settings.model_copy(
        update={"oidc_issuer": dead, "oidc_client_id": "chatdesk", "oidc_client_secret": None}
    )
    with _client(configured) as client:
        answer = client.get("/auth/oidc/login?next=/admin/account", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/login?sso=unavailable&next=/admin/account"
        page = client.get(answer.headers["location"])
        assert page.status_code == 200
        assert "could not reach the identity provider" in page.text
        assert "chatdesk_oidc" not in client.cookies


def test_the_sign_in_page_offers_sso_only_when_configured(
    client: TestClient, sso: TestClient
) -> None:
    plain = client.get("/admin/login?sso=unavailable").text
    assert "single sign-on" not in plain
    assert client.get("/auth/oidc/login", follow_redirects=False).status_code == 404
    assert client.get("/auth/oidc/callback?code=x&state=y").status_code == 404
    page = sso.get("/admin/login?next=/admin/account").text
    assert (
        '<a class="button wide" id="login-sso" href="/auth/oidc/login?next=/admin/account">' in page
    )
    assert "Sign in with single sign-on" in page
    # Only known reasons are shown; nothing of the query is echoed.
    strange = sso.get("/admin/login?sso=%3Cscript%3Ealert(1)%3C/script%3E").text
    assert "alert(1)" not in strange and 'id="sso-error"' not in strange


def test_settings_are_checked(settings: Settings) -> None:
    with pytest.raises(ValueError, match="both CHATDESK_OIDC_ISSUER and CHATDESK_OIDC_CLIENT_ID"):
        Settings(oidc_issuer="https://id.example.com")
    with pytest.raises(ValueError, match="CHATDESK_PASSWORD_LOGIN=owners needs single sign-on"):
        Settings(password_login="owners")
    with pytest.raises(ValueError, match="not an issuer URL"):
        Settings(oidc_issuer="id.example.com", oidc_client_id="x")
    with pytest.raises(ValueError, match="not an email domain"):
        Settings(oidc_allowed_domains="example.com, not a domain")
    with pytest.raises(ValueError):
        Settings(password_login="nobody")
    good = Settings(
        oidc_issuer="https://id.example.com/realms/main/",
        oidc_client_id="chatdesk",
        oidc_allowed_domains="Example.com,@corp.example",
    )
    assert good.oidc_issuer == "https://id.example.com/realms/main"
    assert good.oidc_allowed_domains == ["example.com", "corp.example"]
    assert good.oidc_enabled and not Settings().oidc_enabled
    plain_http = Settings(
        env="production",
        secret_key="x" * 40,
        oidc_issuer="http://id.example.com",
        oidc_client_id="chatdesk",
    )
    assert any(
        "CHATDESK_OIDC_ISSUER must be an https://" in p for p in plain_http.production_problems()
    )
