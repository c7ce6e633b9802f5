"""Rate limits: 429 with Retry-After and RateLimit-* headers, per IP and per principal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.conftest import LiveServer
from tests.factories import (
    add_operator,
    bearer,
    create_site,
    login,
    services_db,
    start_conversation,
    visitor_token,
)

REDIS_URL = os.environ.get("CHATDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def limited(settings: Settings, **overrides: object) -> Settings:
    return Settings.model_validate({**settings.model_dump(), "rate_limits": "on", **overrides})


@pytest.fixture
def limited_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(limited(settings))) as test_client:
        yield test_client


def _assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Limit"]) > 0
    assert int(response.headers["RateLimit-Reset"]) == retry_after


def test_login_limited_per_account_and_address_before_the_password_check(
    limited_client: TestClient,
) -> None:
    operator = add_operator(services_db(limited_client), "agent")
    for _ in range(5):
        wrong = limited_client.post(
            "/api/v1/auth/login", json={"email": operator.email, "password": "wrong-password"}
        )
        assert wrong.status_code == 401
    # Even the right password is refused now: an attempt is counted before the password is
    # checked (and given back only when it was right), so a flood cannot hide a guess.
    blocked = limited_client.post(
        "/api/v1/auth/login", json={"email": operator.email, "password": operator.password}
    )
    _assert_429(blocked)


def test_login_limited_per_account_whatever_the_address_ceiling(settings: Settings) -> None:
    app = create_app(limited(settings, rate_limit_login_ip="100/minute"))
    with TestClient(app) as client:
        operator = add_operator(services_db(client), "agent")
        for _ in range(5):
            client.post(
                "/api/v1/auth/login", json={"email": operator.email.upper(), "password": "nope"}
            )
        blocked = client.post(
            "/api/v1/auth/login", json={"email": operator.email, "password": operator.password}
        )
        _assert_429(blocked)
        other = add_operator(services_db(client), "agent")
        assert (
            client.post(
                "/api/v1/auth/login", json={"email": other.email, "password": other.password}
            ).status_code
            == 200
        )


def test_parallel_wrong_passwords_cannot_pass_the_limit(settings: Settings) -> None:
    server = LiveServer(lambda: create_app(limited(settings)))
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            admin_email = "target@example.com"

            def attempt(_: int) -> int:
                response = client.post(
                    "/api/v1/auth/login", json={"email": admin_email, "password": "guess"}
                )
                return response.status_code

            with ThreadPoolExecutor(max_workers=16) as pool:
                codes = list(pool.map(attempt, range(50)))
        assert codes.count(401) == 5, codes
        assert codes.count(429) == 45
    finally:
        server.stop()


def test_spoofed_forwarded_for_from_untrusted_peer_changes_nothing(settings: Settings) -> None:
    app = create_app(limited(settings, rate_limit_login_ip="5/5minute"))
    with TestClient(app) as limited_client:
        for n in range(5):
            limited_client.post(
                "/api/v1/auth/login",
                json={"email": f"x{n}@example.com", "password": "nope"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
        blocked = limited_client.post(
            "/api/v1/auth/login",
            json={"email": "y@example.com", "password": "nope"},
            headers={"X-Forwarded-For": "198.51.100.7"},
        )
        _assert_429(blocked)


def test_forwarded_for_is_used_behind_a_trusted_proxy(settings: Settings) -> None:
    app = create_app(
        limited(settings, trusted_proxies=["127.0.0.1/32"], rate_limit_login_ip="5/5minute")
    )
    with TestClient(app, client=("127.0.0.1", 5555)) as client:
        for n in range(5):
            client.post(
                "/api/v1/auth/login",
                json={"email": f"x{n}@example.com", "password": "nope"},
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
        _assert_429(
            client.post(
                "/api/v1/auth/login",
                json={"email": "z@example.com", "password": "nope"},
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
        )
        # Another real client behind the same proxy is not affected.
        fresh = client.post(
            "/api/v1/auth/login",
            json={"email": "z@example.com", "password": "nope"},
            headers={"X-Forwarded-For": "203.0.113.10"},
        )
        assert fresh.status_code == 401


def test_visitor_flood_is_stopped_while_other_visitors_keep_chatting(settings: Settings) -> None:
    app = create_app(limited(settings, rate_limit_visitor_message="5/minute"))
    with TestClient(app) as client:
        owner = login(client, add_operator(services_db(client), "owner"))
        site = create_site(client, owner)
        flooder = visitor_token(client, site["site_key"])
        calm = visitor_token(client, site["site_key"])
        conversation = start_conversation(client, flooder)["conversation"]
        path = f"/api/v1/widget/conversations/{conversation['id']}/messages"
        codes = [
            client.post(
                path, json={"body": "spam", "client_msg_id": f"f{n}"}, headers=bearer(flooder)
            ).status_code
            for n in range(8)
        ]
        assert codes[:4] == [201] * 4  # the first message was the conversation's own
        assert set(codes[4:]) == {429}
        assert start_conversation(client, calm, "Hello, I need help")["message"]["body"]


def test_widget_sessions_limited_per_ip(settings: Settings) -> None:
    app = create_app(limited(settings, rate_limit_widget_session="3/hour"))
    with TestClient(app) as client:
        owner = login(client, add_operator(services_db(client), "owner"))
        site = create_site(client, owner)
        for _ in range(3):
            visitor_token(client, site["site_key"])
        _assert_429(client.post("/api/v1/widget/sessions", json={"site_key": site["site_key"]}))


def test_admin_writes_limited_per_ip(settings: Settings) -> None:
    app = create_app(limited(settings, rate_limit_admin_write="3/minute"))
    with TestClient(app) as client:
        owner = login(client, add_operator(services_db(client), "owner"))
        headers = {"X-CSRF-Token": owner.csrf_token or ""}
        for n in range(3):
            created = client.post(
                "/api/v1/canned-responses",
                json={"shortcut": f"s{n}", "body": "Hello"},
                headers=headers,
            )
            assert created.status_code == 201
        _assert_429(
            client.post(
                "/api/v1/canned-responses", json={"shortcut": "s9", "body": "x"}, headers=headers
            )
        )
        # Reading the inbox is not an admin write.
        assert client.get("/api/v1/conversations").status_code == 200


@pytest.mark.redis
def test_redis_counters_are_shared_between_processes(settings: Settings) -> None:
    shared = limited(settings, redis_url=REDIS_URL, rate_limit_widget_session="4/hour")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).flushdb()
    except redis.ConnectionError as exc:  # fail, never skip
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    with TestClient(create_app(shared)) as first, TestClient(create_app(shared)) as second:
        owner = login(first, add_operator(services_db(first), "owner"))
        site = create_site(first, owner)
        codes = []
        for n in range(6):
            client = first if n % 2 == 0 else second
            codes.append(
                client.post("/api/v1/widget/sessions", json={"site_key": site["site_key"]})
            )
        assert [c.status_code for c in codes[:4]] == [201] * 4
        _assert_429(codes[4])
        _assert_429(codes[5])


def test_rate_limits_off_is_refused_in_production(settings: Settings) -> None:
    production = Settings.model_validate(
        {**settings.model_dump(), "env": "production", "secret_key": "s" * 48, "rate_limits": "off"}
    )
    with pytest.raises(SystemExit, match="CHATDESK_RATE_LIMITS=off"):
        create_app(production)
