"""Operator sessions: lifetimes, and what ends them (password, role, deactivation, logout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.db.runner import Database
from chatdesk.settings import Settings
from tests.conftest import LiveServer
from tests.factories import FakeClock, add_operator, csrf, login, services_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_password_change_ends_other_sessions_but_not_this_one(client: TestClient) -> None:
    operator = add_operator(services_db(client), "agent")
    other_device = TestClient(client.app)
    login(other_device, operator)
    login(client, operator)
    assert other_device.get("/api/v1/auth/me").status_code == 200

    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": operator.password, "new_password": "a-new-long-password"},
        headers=csrf(operator),
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 200
    assert other_device.get("/api/v1/auth/me").status_code == 401
    wrong_old = client.post(
        "/api/v1/auth/login", json={"email": operator.email, "password": operator.password}
    )
    assert wrong_old.status_code == 401


def test_password_change_needs_the_current_password(client: TestClient) -> None:
    operator = login(client, add_operator(services_db(client), "agent"))
    refused = client.post(
        "/api/v1/auth/password",
        json={"current_password": "not-it", "new_password": "a-new-long-password"},
        headers=csrf(operator),
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    short = client.post(
        "/api/v1/auth/password",
        json={"current_password": operator.password, "new_password": "short"},
        headers=csrf(operator),
    )
    assert short.status_code == 422


def test_role_change_and_deactivation_end_sessions(client: TestClient) -> None:
    db = services_db(client)
    admin = add_operator(db, "admin")
    agent = add_operator(db, "agent")
    agent_client = TestClient(client.app)
    login(agent_client, agent)
    login(client, admin)

    promoted = client.patch(
        f"/api/v1/operators/{agent.id}", json={"role": "admin"}, headers=csrf(admin)
    )
    assert promoted.status_code == 200
    assert agent_client.get("/api/v1/auth/me").status_code == 401

    login(agent_client, agent)
    deactivated = client.patch(
        f"/api/v1/operators/{agent.id}", json={"active": False}, headers=csrf(admin)
    )
    assert deactivated.status_code == 200
    assert agent_client.get("/api/v1/auth/me").status_code == 401
    again = agent_client.post(
        "/api/v1/auth/login", json={"email": agent.email, "password": agent.password}
    )
    assert again.status_code == 401


def test_idle_and_absolute_lifetimes(settings: Settings) -> None:
    clock = FakeClock(START)
    configured = settings.model_copy(
        update={"session_idle_minutes": 30, "session_absolute_hours": 2}
    )
    with TestClient(create_app(configured, clock=clock)) as client:
        operator = login(client, add_operator(services_db(client), "agent"))
        clock.now += timedelta(minutes=29)
        assert client.get("/api/v1/auth/me").status_code == 200  # slides the idle window
        clock.now += timedelta(minutes=29)
        assert client.get("/api/v1/auth/me").status_code == 200
        clock.now += timedelta(minutes=31)
        assert client.get("/api/v1/auth/me").status_code == 401  # idle too long

        login(client, operator)
        for _ in range(4):
            clock.now += timedelta(minutes=25)
            assert client.get("/api/v1/auth/me").status_code == 200
        clock.now += timedelta(minutes=25)  # 125 minutes after sign-in, never idle
        assert client.get("/api/v1/auth/me").status_code == 401


def test_logout_clears_site_data_and_the_cookie(client: TestClient) -> None:
    operator = login(client, add_operator(services_db(client), "agent"))
    response = client.post("/api/v1/auth/logout", headers=csrf(operator))
    assert response.status_code == 204
    assert '"cookies"' in response.headers["clear-site-data"]
    assert "chatdesk_session=" in response.headers["set-cookie"]
    assert client.get("/api/v1/auth/me").status_code == 401


def test_password_change_closes_the_other_sessions_open_streams(settings: Settings) -> None:
    server = LiveServer(lambda: create_app(settings))
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as setup:
            db = Database(settings.database_url)
            db.start()
            try:
                agent = add_operator(db, "agent")
            finally:
                db.stop()
            setup_csrf = csrf(login(setup, agent))
            with httpx.Client(base_url=server.url, timeout=10) as device:
                login(device, agent)
                with device.stream(
                    "GET", "/api/v1/events", headers={"Accept": "text/event-stream"}
                ) as stream:
                    assert stream.status_code == 200
                    lines = stream.iter_lines()
                    assert next(lines).startswith("retry:")
                    changed = setup.post(
                        "/api/v1/auth/password",
                        json={
                            "current_password": agent.password,
                            "new_password": "another-long-password",
                        },
                        headers=setup_csrf,
                    )
                    assert changed.status_code == 204
                    # The stream ends (the iterator is exhausted) instead of waiting forever.
                    rest = list(lines)
                    assert all(not line.startswith("data:") for line in rest)
    finally:
        server.stop()


def test_revoking_an_api_token_closes_its_open_streams(settings: Settings) -> None:
    server = LiveServer(lambda: create_app(settings))
    server.start()
    try:
        db = Database(settings.database_url)
        db.start()
        try:
            admin = add_operator(db, "admin")
        finally:
            db.stop()
        with httpx.Client(base_url=server.url, timeout=10) as setup:
            admin_csrf = csrf(login(setup, admin))
            created = setup.post(
                "/api/v1/api-tokens", json={"name": "feed", "role": "agent"}, headers=admin_csrf
            )
            assert created.status_code == 201
            token = created.json()
            with httpx.Client(base_url=server.url, timeout=10) as integration:
                headers = {
                    "Accept": "text/event-stream",
                    "Authorization": f"Bearer {token['token']}",
                }
                with integration.stream("GET", "/api/v1/events", headers=headers) as stream:
                    assert stream.status_code == 200
                    lines = stream.iter_lines()
                    assert next(lines).startswith("retry:")
                    revoked = setup.delete(f"/api/v1/api-tokens/{token['id']}", headers=admin_csrf)
                    assert revoked.status_code == 204
                    # Ends at the next heartbeat (1 s in tests) instead of streaming on.
                    assert all(not line.startswith("data:") for line in lines)
    finally:
        server.stop()
