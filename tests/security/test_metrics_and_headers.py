"""/metrics protection and content; security headers per surface."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.factories import bearer, csrf, make_world


def test_metrics_refused_to_addresses_outside_the_allow_list(client: TestClient) -> None:
    # TestClient's peer is "testclient", not a loopback address.
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_metrics_with_token_count_requests_messages_and_streams(settings: Settings) -> None:
    configured = Settings.model_validate({**settings.model_dump(), "metrics_token": "m" * 40})
    app = create_app(configured)
    with TestClient(app) as client:
        world = make_world(client)
        client.post(
            f"/api/v1/conversations/{world.conversation['id']}/messages",
            json={"body": "reply", "client_msg_id": "r1"},
            headers=csrf(world.owner),
        )
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", headers=bearer("wrong")).status_code == 403
        text = client.get("/metrics", headers=bearer("m" * 40)).text
    assert 'chatdesk_messages_stored_total{author="visitor"} 1.0' in text
    assert 'chatdesk_messages_stored_total{author="operator"} 1.0' in text
    assert 'route="/api/v1/widget/conversations",status="201"' in text
    assert "chatdesk_open_streams 0.0" in text
    assert "chatdesk_db_connections_in_use" in text
    assert "chatdesk_rate_limit_rejections_total 0.0" in text


def test_metrics_served_to_an_allow_listed_address(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app, client=("127.0.0.1", 4000)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert "chatdesk_http_requests_total" in response.text


def test_api_responses_carry_security_headers(client: TestClient) -> None:
    world = make_world(client)
    response = client.get("/api/v1/widget/conversations", headers=bearer(world.visitor_token))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in response.headers["permissions-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers
    assert response.headers["x-request-id"]
    assert "access-control-allow-origin" not in response.headers


def test_hsts_only_in_production(settings: Settings) -> None:
    production = Settings.model_validate(
        {**settings.model_dump(), "env": "production", "secret_key": "k" * 48, "rate_limits": "on"}
    )
    with TestClient(create_app(production)) as client:
        response = client.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "includeSubDomains" not in response.headers["strict-transport-security"]


def test_no_cors_reflection(client: TestClient) -> None:
    response = client.options(
        "/api/v1/widget/config?site_key=x",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


def test_api_docs_page_loads_only_its_own_script(client: TestClient) -> None:
    # Swagger UI is served by chatdesk itself (tests/api/test_api_docs.py): no CDN, no
    # inline script on the console's origin.
    response = client.get("/api/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "cdn.jsdelivr.net" not in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


def test_login_from_a_foreign_origin_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login",
        json={"email": "a@example.com", "password": "whatever"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
