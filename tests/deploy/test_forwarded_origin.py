"""The browser-origin check behind a proxy: ``CHATDESK_PUBLIC_URL``, else the forwarded
host and scheme from a trusted proxy only, else the request's own Host.

Over HTTP (the app over ASGI, with the peer address each case needs): sign-in checks
the origin before anything else, and a cookie-authenticated write checks it again with
the CSRF token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.factories import Operator, add_operator, services_db

PROXY = "10.0.0.2"
STRANGER = "192.0.2.9"
REFUSED = "Cross-origin request refused."
BROWSER = {"Origin": "https://chat.example.com"}
FORWARDED = {"X-Forwarded-Host": "chat.example.com", "X-Forwarded-Proto": "https"}


@contextmanager
def peer(settings: Settings, address: str, **overrides: Any) -> Iterator[TestClient]:
    """The app, reached from ``address`` (the direct peer, as a proxy would be)."""
    app = create_app(settings.model_copy(update=overrides))
    with TestClient(app, client=(address, 40000)) as client:
        yield client


def owner_of(client: TestClient) -> Operator:
    return add_operator(services_db(client), "owner")


def sign_in(client: TestClient, operator: Operator, headers: dict[str, str]) -> Any:
    return client.post(
        "/api/v1/auth/login",
        json={"email": operator.email, "password": operator.password},
        headers=headers,
    )


def refused(response: Any) -> bool:
    return response.status_code == 403 and response.json()["error"]["message"] == REFUSED


def test_without_proxy_settings_forwarded_headers_are_ignored(settings: Settings) -> None:
    with peer(settings, STRANGER) as client:
        owner = owner_of(client)
        # Anyone can send X-Forwarded-*: a spoofed host must not make a foreign origin pass.
        assert refused(sign_in(client, owner, {**BROWSER, **FORWARDED}))
        assert refused(sign_in(client, owner, {"Origin": "https://evil.example", **FORWARDED}))
        assert sign_in(client, owner, {"Origin": "http://testserver"}).status_code == 200


def test_forwarded_host_and_proto_count_from_a_trusted_proxy_only(settings: Settings) -> None:
    trusted = {"trusted_proxies": ["10.0.0.0/8"]}
    with peer(settings, STRANGER, **trusted) as client:
        owner = owner_of(client)
        assert refused(sign_in(client, owner, {**BROWSER, **FORWARDED}))
        assert (
            sign_in(client, owner, {"Origin": "http://testserver", **FORWARDED}).status_code == 200
        )

    with peer(settings, PROXY, **trusted) as client:
        assert sign_in(client, owner, {**BROWSER, **FORWARDED}).status_code == 200
        # The browser's default port is left out of Origin; a proxy may send it.
        with_port = {**FORWARDED, "X-Forwarded-Host": "chat.example.com:443"}
        assert sign_in(client, owner, {**BROWSER, **with_port}).status_code == 200
        # The proxy nearest chatdesk appended last: its value counts.
        chained = {**FORWARDED, "X-Forwarded-Host": "evil.example, chat.example.com"}
        assert sign_in(client, owner, {**BROWSER, **chained}).status_code == 200
        # The forwarded origin replaces Host: the proxy-side Host no longer passes.
        assert refused(sign_in(client, owner, {"Origin": "http://testserver", **FORWARDED}))
        assert refused(sign_in(client, owner, {"Origin": "https://evil.example", **FORWARDED}))
        plain = {**FORWARDED, "X-Forwarded-Proto": "http"}
        assert refused(sign_in(client, owner, {**BROWSER, **plain}))
        # A trusted peer that forwards nothing is served by its own Host.
        assert sign_in(client, owner, {"Origin": "http://testserver"}).status_code == 200

        # The CSRF path of a signed-in operator's write checks the same origin.
        csrf_token = sign_in(client, owner, {**BROWSER, **FORWARDED}).json()["csrf_token"]
        site = {"name": "Shop", "allowed_origins": ["https://shop.example.com"]}
        write = {**BROWSER, **FORWARDED, "X-CSRF-Token": csrf_token}
        assert client.post("/api/v1/sites", json=site, headers=write).status_code == 201
        foreign = {**write, "Origin": "https://evil.example"}
        assert refused(client.post("/api/v1/sites", json=site, headers=foreign))
        cookie = client.cookies.get("chatdesk_session")

    with peer(settings, STRANGER, **trusted) as client:
        client.cookies.set("chatdesk_session", cookie or "")
        assert refused(client.post("/api/v1/sites", json=site, headers=write))


def test_public_url_is_the_origin_whatever_the_headers(settings: Settings) -> None:
    public = {"public_url": "https://Chat.Example.com:443/chat/", "trusted_proxies": ["10.0.0.0/8"]}
    with peer(settings, PROXY, **public) as client:
        owner = owner_of(client)
        assert sign_in(client, owner, BROWSER).status_code == 200
        spoofed = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
        assert sign_in(client, owner, {**BROWSER, **spoofed}).status_code == 200
        assert refused(sign_in(client, owner, {"Origin": "https://evil.example", **spoofed}))
        assert refused(sign_in(client, owner, {"Origin": "http://testserver"}))
    with peer(settings, STRANGER, public_url="https://chat.example.com") as client:
        assert sign_in(client, owner, BROWSER).status_code == 200
        assert refused(sign_in(client, owner, {"Origin": "http://testserver", **FORWARDED}))
