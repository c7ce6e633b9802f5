"""The one-click unsubscribe page (/email/unsubscribe/{token}), outside /api/: every
malformed or forged token gets the same 404 page, GET never changes anything, and a
genuine POST needs no cookie, CSRF token or Origin (RFC 8058) but changes only what its
token names."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chatdesk.security.signing import UnsubscribeTokens
from tests.factories import services_db
from tests.security.arena import build_arena

BAD_TOKENS = [
    "x",
    "v" + "0" * 46,
    "%00",
    "..%2f..%2fetc%2fpasswd",
    "v" * 5000,
    "%F0%9F%98%80" * 20,
    "u" + "1" * 26 + "z" * 20,
]


def test_unsubscribe_links_refuse_forgeries_and_change_only_what_they_name(
    client: TestClient,
) -> None:
    arena = build_arena(client)
    secret = client.app.state.services.settings.secret_key.get_secret_value()  # type: ignore[attr-defined]
    for token in BAD_TOKENS:
        for method in ("GET", "POST"):
            response = client.request(method, f"/email/unsubscribe/{token}")
            assert response.status_code in (400, 404), (method, token, response.status_code)
            assert "Traceback" not in response.text
    other_secret = UnsubscribeTokens("another secret").make("m", arena.agent1.id)
    assert client.post(f"/email/unsubscribe/{other_secret}").status_code == 404
    genuine = UnsubscribeTokens(secret).make("m", arena.agent1.id)
    page = client.get(f"/email/unsubscribe/{genuine}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"

    def mentions(operator_id: str) -> bool:
        from sqlalchemy import select

        from chatdesk.db.tables import operators

        return bool(
            services_db(client).read_sync(
                lambda conn: conn.execute(
                    select(operators.c.notify_mentions).where(operators.c.id == operator_id)
                ).scalar_one()
            )
        )

    assert mentions(arena.agent1.id) and mentions(arena.agent2.id)
    done = client.post(
        f"/email/unsubscribe/{genuine}",
        content="List-Unsubscribe=One-Click",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "https://evil.example",
        },
    )
    assert done.status_code == 200
    assert not mentions(arena.agent1.id) and mentions(arena.agent2.id)
    # A token naming someone who no longer exists: the same 404 page.
    ghost = UnsubscribeTokens(secret).make("v", "01" + "z" * 24)
    assert client.post(f"/email/unsubscribe/{ghost}").status_code == 404
