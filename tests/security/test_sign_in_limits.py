"""Sign-in limits that fit real teams (ADR 0004): failures count, successes do not; an
account locked at one address is not locked elsewhere; the per-account backstop lets
the account's known good addresses through. Admin writes count after authentication."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.factories import Operator, add_operator, services_db

REDIS_URL = os.environ.get("CHATDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PROXY = "127.0.0.1"


def limited(settings: Settings, **overrides: object) -> Settings:
    return Settings.model_validate(
        {**settings.model_dump(), "rate_limits": "on", "trusted_proxies": [PROXY], **overrides}
    )


@pytest.fixture
def office(settings: Settings, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A client behind a trusted proxy, so each request can come from any address."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    with TestClient(create_app(limited(settings, **overrides)), client=(PROXY, 4000)) as client:
        yield client


def sign_in(client: TestClient, operator: Operator, address: str, *, right: bool) -> Any:
    password = operator.password if right else "not-the-password"
    client.cookies.clear()
    return client.post(
        "/api/v1/auth/login",
        json={"email": operator.email, "password": password},
        headers={"X-Forwarded-For": address},
    )


def assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Reset"]) == int(response.headers["Retry-After"])


@pytest.mark.parametrize("office", [{"rate_limit_login_ip": "3/5minute"}], indirect=True)
def test_a_shift_starting_behind_one_nat_is_never_locked_out(office: TestClient) -> None:
    db = services_db(office)
    team = [add_operator(db, "agent") for _ in range(6)]
    # Twice as many successful sign-ins as the address allows failures: none counts.
    for colleague in team:
        assert sign_in(office, colleague, "198.51.100.1", right=True).status_code == 200
    # Failures do count, and the ceiling holds for everyone behind that address...
    for colleague in team[:3]:
        assert sign_in(office, colleague, "198.51.100.1", right=False).status_code == 401
    assert_429(sign_in(office, team[3], "198.51.100.1", right=True))
    # ...and only there.
    assert sign_in(office, team[3], "198.51.100.2", right=True).status_code == 200


def test_wrong_passwords_at_one_address_do_not_lock_the_account_elsewhere(
    office: TestClient,
) -> None:
    owner = add_operator(services_db(office), "owner")
    for _ in range(5):
        assert sign_in(office, owner, "203.0.113.66", right=False).status_code == 401
    assert_429(sign_in(office, owner, "203.0.113.66", right=True))
    assert sign_in(office, owner, "198.51.100.20", right=True).status_code == 200
    # A colleague at the attacker's address is not locked by the account's counter.
    colleague = add_operator(services_db(office), "agent")
    assert sign_in(office, colleague, "203.0.113.66", right=True).status_code == 200


def test_the_account_and_address_counter_is_for_failures_only(office: TestClient) -> None:
    operator = add_operator(services_db(office), "agent")
    # Four failures, then a success that gives its own count back: one failure left...
    for _ in range(4):
        assert sign_in(office, operator, "198.51.100.3", right=False).status_code == 401
    for _ in range(3):
        assert sign_in(office, operator, "198.51.100.3", right=True).status_code == 200
    assert sign_in(office, operator, "198.51.100.3", right=False).status_code == 401
    # ...and the fifth failure fills the window.
    assert_429(sign_in(office, operator, "198.51.100.3", right=True))


@pytest.mark.parametrize("office", [{"rate_limit_login_account": "3/day"}], indirect=True)
def test_the_backstop_spares_the_accounts_known_good_addresses(office: TestClient) -> None:
    owner = add_operator(services_db(office), "owner")
    home = "198.51.100.30"
    assert sign_in(office, owner, home, right=True).status_code == 200
    # Someone fails from many addresses: the account's backstop fills...
    for n in range(3):
        assert sign_in(office, owner, f"203.0.113.{n}", right=False).status_code == 401
    # ...so new addresses are refused, even with the right password...
    assert_429(sign_in(office, owner, "203.0.113.99", right=False))
    assert_429(sign_in(office, owner, "192.0.2.7", right=True))
    # ...while the owner signs in from where they signed in before, again and again.
    for _ in range(3):
        assert sign_in(office, owner, home, right=True).status_code == 200
    # Failures from the known address stay under its own tight limit.
    for _ in range(5):
        assert sign_in(office, owner, home, right=False).status_code == 401
    assert_429(sign_in(office, owner, home, right=True))


def test_failed_sign_ins_are_audit_logged_and_refusals_are_not(office: TestClient) -> None:
    owner = add_operator(services_db(office), "owner")
    for _ in range(6):
        sign_in(office, owner, "203.0.113.8", right=False)
    signed = sign_in(office, owner, "198.51.100.8", right=True)
    assert signed.status_code == 200
    csrf = {"X-CSRF-Token": signed.json()["csrf_token"], "X-Forwarded-For": "198.51.100.8"}
    entries = office.get("/api/v1/audit-log?action=auth.login_failed", headers=csrf).json()
    failed = entries["entries"]
    assert len(failed) == 5  # the sixth was refused before any password was checked
    assert {e["ip"] for e in failed} == {"203.0.113.8"}
    assert {e["details"]["email"] for e in failed} == {owner.email}


@pytest.mark.redis
def test_successes_give_their_count_back_in_redis_too(settings: Settings) -> None:
    try:
        redis.Redis.from_url(REDIS_URL).flushdb()
    except redis.ConnectionError as exc:  # fail, never skip
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    shared = limited(settings, redis_url=REDIS_URL, rate_limit_login_ip="2/5minute")
    with (
        TestClient(create_app(shared), client=(PROXY, 4001)) as first,
        TestClient(create_app(shared), client=(PROXY, 4002)) as second,
    ):
        operator = add_operator(services_db(first), "agent")
        for n in range(4):
            client = first if n % 2 == 0 else second
            assert sign_in(client, operator, "198.51.100.40", right=True).status_code == 200
        other = add_operator(services_db(first), "agent")
        assert sign_in(second, other, "198.51.100.40", right=False).status_code == 401
        assert sign_in(first, operator, "198.51.100.40", right=False).status_code == 401
        assert_429(sign_in(second, operator, "198.51.100.40", right=True))


# -- the admin-write budget ------------------------------------------------------------------


@pytest.mark.parametrize(
    "office",
    [{"rate_limit_admin_write": "4/minute", "rate_limit_unauthenticated": "5/minute"}],
    indirect=True,
)
def test_unauthenticated_requests_do_not_spend_the_admins_budget(office: TestClient) -> None:
    address = {"X-Forwarded-For": "198.51.100.50"}
    anonymous = {**address, "Authorization": "Bearer cdk_" + "x" * 43}
    codes = [
        office.post(
            "/api/v1/canned-responses", json={"shortcut": "x", "body": "x"}, headers=anonymous
        ).status_code
        for _ in range(8)
    ]
    # Their own, cheap limit: 401 five times, then 429.
    assert codes == [401] * 5 + [429] * 3
    assert_429(office.post("/api/v1/auth/logout", headers=anonymous))
    # The admin behind the same address still has the whole budget, sign-out included.
    admin = add_operator(services_db(office), "admin")
    signed = sign_in(office, admin, "198.51.100.50", right=True)
    headers = {**address, "X-CSRF-Token": signed.json()["csrf_token"]}
    for n in range(3):
        created = office.post(
            "/api/v1/canned-responses", json={"shortcut": f"s{n}", "body": "Hi"}, headers=headers
        )
        assert created.status_code == 201, created.text
    assert office.post("/api/v1/auth/logout", headers=headers).status_code == 204


@pytest.mark.parametrize(
    "office",
    [{"rate_limit_admin_write": "2/minute", "rate_limit_admin_write_ip": "3/minute"}],
    indirect=True,
)
def test_admin_writes_count_per_operator_and_per_address(office: TestClient) -> None:
    db = services_db(office)
    first, second = add_operator(db, "admin"), add_operator(db, "admin")

    def write(operator: Operator, address: str, shortcut: str) -> int:
        signed = sign_in(office, operator, address, right=True)
        headers = {"X-Forwarded-For": address, "X-CSRF-Token": signed.json()["csrf_token"]}
        return office.post(
            "/api/v1/canned-responses", json={"shortcut": shortcut, "body": "x"}, headers=headers
        ).status_code

    # One admin's own budget runs out before the address's...
    assert [write(first, "198.51.100.60", f"a{n}") for n in range(3)] == [201, 201, 429]
    # ...so a colleague at the same address still writes, until the address's runs out.
    assert [write(second, "198.51.100.60", f"b{n}") for n in range(2)] == [201, 429]
    # Elsewhere, nothing of this counts.
    third = add_operator(db, "admin")
    assert write(third, "198.51.100.61", "c0") == 201
