"""Passkeys over HTTP (ADR 0030) with a software authenticator making real, signed
answers: several per operator, rename and remove (another operator's → 404), sign-in,
and refusals: replayed, expired or foreign challenges, another origin, an unknown
credential, a counter that did not move, a deactivated operator, malformed answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.api.expect import assert_error, signed_in_as
from tests.factories import FakeClock, Operator, csrf, login
from tests.passkey_authenticator import SoftAuthenticator

ORIGIN = "https://chat.example.com"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 6, 12, 0, 5, tzinfo=UTC))


@pytest.fixture
def tclient(settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"public_url": ORIGIN})
    with TestClient(create_app(configured, clock=clock), base_url=ORIGIN) as client:
        yield client


def _key() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id="chat.example.com")


def _register(client: TestClient, operator: Operator, key: SoftAuthenticator, name: str) -> Any:
    options = client.post("/api/v1/auth/passkeys/register/options", headers=csrf(operator))
    assert options.status_code == 200, options.text
    public_key = options.json()["public_key"]
    body = {"name": name, "credential": key.register(public_key)}
    return client.post("/api/v1/auth/passkeys/register", json=body, headers=csrf(operator))


def _login_options(client: TestClient) -> dict[str, Any]:
    client.cookies.clear()
    answer = client.post("/api/v1/auth/passkeys/login/options")
    assert answer.status_code == 200, answer.text
    options: dict[str, Any] = answer.json()["public_key"]
    return options


def _login(client: TestClient, credential: dict[str, Any]) -> Any:
    client.cookies.clear()
    return client.post("/api/v1/auth/passkeys/login", json={"credential": credential})


def test_register_several_rename_remove_and_sign_in(tclient: TestClient) -> None:
    operator = signed_in_as(tclient, "agent")
    laptop, phone = _key(), _key()
    added = _register(tclient, operator, laptop, "Laptop")
    assert added.status_code == 201, added.text
    assert set(added.json()) == {"id", "name", "created_at", "last_used_at"}
    assert _register(tclient, operator, phone, "Phone").status_code == 201
    # The options name the operator and leave out the passkeys they have.
    options = tclient.post("/api/v1/auth/passkeys/register/options", headers=csrf(operator))
    public_key = options.json()["public_key"]
    assert public_key["rp"]["id"] == "chat.example.com"
    assert public_key["authenticatorSelection"]["residentKey"] == "required"
    assert len(public_key["excludeCredentials"]) == 2
    listed = tclient.get("/api/v1/auth/passkeys").json()["passkeys"]
    assert [p["name"] for p in listed] == ["Laptop", "Phone"]
    phone_id = listed[1]["id"]
    renamed = tclient.patch(
        f"/api/v1/auth/passkeys/{phone_id}", json={"name": "Work phone"}, headers=csrf(operator)
    )
    assert renamed.json()["name"] == "Work phone"
    gone = tclient.delete(f"/api/v1/auth/passkeys/{listed[0]['id']}", headers=csrf(operator))
    assert gone.status_code == 204

    signed_in = _login(tclient, phone.assert_(_login_options(tclient)))
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["operator"]["id"] == operator.id
    me = tclient.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert tclient.get("/api/v1/auth/passkeys").json()["passkeys"][0]["last_used_at"]
    # The removed one signs nobody in.
    assert_error(_login(tclient, laptop.assert_(_login_options(tclient))), 401, "unauthorized")


def test_a_passkey_sign_in_meets_the_two_factor_rule(tclient: TestClient, clock: FakeClock) -> None:
    """Under the owners' two-factor rule a password session without a code is held back;
    a passkey's user verification is the second factor already (ADR 0030)."""
    agent = signed_in_as(tclient, "agent")
    key = _key()
    assert _register(tclient, agent, key, "Laptop").status_code == 201
    tclient.cookies.clear()
    owner = signed_in_as(tclient, "owner")
    secret = tclient.post("/api/v1/auth/totp/setup", headers=csrf(owner)).json()["secret"]
    code = {"code": pyotp.TOTP(secret).at(clock.now)}
    enabled = tclient.post("/api/v1/auth/totp/enable", json=code, headers=csrf(owner))
    assert enabled.status_code == 200, enabled.text
    rule = tclient.patch(
        "/api/v1/security-policy", json={"require_totp": True}, headers=csrf(owner)
    )
    assert rule.status_code == 200, rule.text
    tclient.cookies.clear()
    login(tclient, agent)
    assert_error(tclient.get("/api/v1/conversations"), 403, "totp_setup_required")
    signed_in = _login(tclient, key.assert_(_login_options(tclient)))
    assert signed_in.status_code == 200, signed_in.text
    assert tclient.get("/api/v1/conversations").status_code == 200


def test_another_operators_passkey_is_not_found(tclient: TestClient) -> None:
    owner = signed_in_as(tclient, "owner")
    assert _register(tclient, owner, _key(), "Owner's").status_code == 201
    theirs = tclient.get("/api/v1/auth/passkeys").json()["passkeys"][0]["id"]
    agent = signed_in_as(tclient, "agent")
    for answer in (
        tclient.patch(f"/api/v1/auth/passkeys/{theirs}", json={"name": "x"}, headers=csrf(agent)),
        tclient.delete(f"/api/v1/auth/passkeys/{theirs}", headers=csrf(agent)),
        tclient.delete("/api/v1/auth/passkeys/nope", headers=csrf(agent)),
    ):
        assert_error(answer, 404, "not_found")
    assert tclient.get("/api/v1/auth/passkeys").json() == {"passkeys": []}
    login(tclient, owner)
    assert [p["name"] for p in tclient.get("/api/v1/auth/passkeys").json()["passkeys"]] == [
        "Owner's"
    ]


def test_challenges_are_single_use_expiring_and_for_one_ceremony(
    tclient: TestClient, clock: FakeClock
) -> None:
    operator = signed_in_as(tclient, "agent")
    key = _key()
    assert _register(tclient, operator, key, "Key").status_code == 201
    options = _login_options(tclient)
    answer = key.assert_(options)
    assert _login(tclient, answer).status_code == 200
    assert_error(_login(tclient, answer), 401, "unauthorized")  # replayed
    assert_error(_login(tclient, key.assert_(options)), 401, "unauthorized")  # reused challenge

    late = _login_options(tclient)
    clock.now += timedelta(minutes=5, seconds=1)
    assert_error(_login(tclient, key.assert_(late)), 401, "unauthorized")  # expired

    # A registration's challenge does not sign in, nor the other way round.
    login(tclient, operator)
    made = tclient.post("/api/v1/auth/passkeys/register/options", headers=csrf(operator))
    assert_error(_login(tclient, key.assert_(made.json()["public_key"])), 401, "unauthorized")
    login(tclient, operator)
    sign_in_options = _login_options(tclient)
    login(tclient, operator)
    sign_in_options["user"] = {"id": "b3A", "name": "x", "displayName": "x"}
    body = {"name": "Again", "credential": _key().register(sign_in_options)}
    refused = tclient.post("/api/v1/auth/passkeys/register", json=body, headers=csrf(operator))
    assert_error(refused, 400, "bad_request")
    # Still good for what it was made for: the counter moves on.
    assert _login(tclient, key.assert_(_login_options(tclient))).status_code == 200


def test_other_origin_unknown_credential_counter_and_deactivated(tclient: TestClient) -> None:
    admin = signed_in_as(tclient, "admin")
    operator = signed_in_as(tclient, "agent")
    key = _key()
    assert _register(tclient, operator, key, "Key").status_code == 201
    # Another origin: refused, at registration too.
    other = key.assert_(_login_options(tclient), origin="https://evil.example.net")
    assert_error(_login(tclient, other), 401, "unauthorized")
    login(tclient, operator)
    made = tclient.post("/api/v1/auth/passkeys/register/options", headers=csrf(operator))
    evil = _key().register(made.json()["public_key"], origin="https://evil.example.net")
    refused = tclient.post(
        "/api/v1/auth/passkeys/register", json={"credential": evil}, headers=csrf(operator)
    )
    assert_error(refused, 400, "bad_request")
    # An unknown credential: a key never registered.
    assert_error(_login(tclient, _key().assert_(_login_options(tclient))), 401, "unauthorized")
    # A counter that did not move on (a cloned authenticator).
    assert _login(tclient, key.assert_(_login_options(tclient), count=10)).status_code == 200
    cloned = key.assert_(_login_options(tclient), count=10)
    assert_error(_login(tclient, cloned), 401, "unauthorized")
    # A deactivated operator.
    login(tclient, admin)
    off = tclient.patch(
        f"/api/v1/operators/{operator.id}", json={"active": False}, headers=csrf(admin)
    )
    assert off.status_code == 200, off.text
    assert_error(_login(tclient, key.assert_(_login_options(tclient))), 401, "unauthorized")


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": "x", "response": {}},
        {"id": "x", "rawId": "x", "response": {"clientDataJSON": "!!!"}},
        {"id": 5, "rawId": ["x"], "response": {"clientDataJSON": 7}},
    ],
)
def test_malformed_answers_are_refused_cleanly(
    tclient: TestClient, credential: dict[str, Any]
) -> None:
    _login_options(tclient)
    assert_error(_login(tclient, credential), 401, "unauthorized")
    operator = signed_in_as(tclient, "agent")
    refused = tclient.post(
        "/api/v1/auth/passkeys/register", json={"credential": credential}, headers=csrf(operator)
    )
    assert_error(refused, 400, "bad_request")
    assert_error(
        tclient.post("/api/v1/auth/passkeys/login", json={"credential": "nope"}),
        422,
        "validation_error",
    )


def test_api_tokens_cannot_manage_passkeys(tclient: TestClient) -> None:
    owner = signed_in_as(tclient, "owner")
    made = tclient.post(
        "/api/v1/api-tokens", json={"name": "ci", "role": "admin"}, headers=csrf(owner)
    )
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    tclient.cookies.clear()
    for method, path in [
        ("GET", "/api/v1/auth/passkeys"),
        ("POST", "/api/v1/auth/passkeys/register/options"),
    ]:
        assert_error(tclient.request(method, path, headers=token), 403, "forbidden")
