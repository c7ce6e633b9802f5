"""A bot token (role ``bot``, one site) against every API route: conversations of its
site only, nothing of the settings or of an operator's account."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import bearer
from tests.security.arena import BUILDERS, Principal, build_arena
from tests.security.test_idor import EXPECTED

_VISITOR_ONLY = 401
BOT_EXPECTED: dict[tuple[str, str], int] = {
    ("GET", "/api/v1/widget/config"): 200,
    ("POST", "/api/v1/widget/sessions"): 201,
    ("POST", "/api/v1/auth/login"): 200,
    ("POST", "/api/v1/auth/password-reset"): 202,
    ("POST", "/api/v1/auth/password-reset/confirm"): 400,
    ("POST", "/api/v1/auth/logout"): 204,
    ("GET", "/api/v1/auth/me"): 403,
    ("PATCH", "/api/v1/auth/me"): 403,
    ("PUT", "/api/v1/auth/me/avatar"): 403,
    ("DELETE", "/api/v1/auth/me/avatar"): 403,
    ("POST", "/api/v1/auth/password"): 403,
    ("POST", "/api/v1/auth/totp/setup"): 403,
    ("POST", "/api/v1/auth/totp/enable"): 403,
    ("POST", "/api/v1/auth/totp/disable"): 403,
    ("GET", "/api/v1/auth/sessions"): 403,
    ("GET", "/api/v1/auth/passkeys"): 403,
    ("POST", "/api/v1/auth/passkeys/register/options"): 403,
    ("POST", "/api/v1/auth/passkeys/register"): 403,
    ("PATCH", "/api/v1/auth/passkeys/{passkey_id}"): 403,
    ("DELETE", "/api/v1/auth/passkeys/{passkey_id}"): 403,
    ("POST", "/api/v1/auth/passkeys/login/options"): 200,
    ("POST", "/api/v1/auth/passkeys/login"): 401,
    ("DELETE", "/api/v1/auth/sessions"): 403,
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): 403,
    ("GET", "/api/v1/operators/{operator_id}/sessions"): 403,
    ("DELETE", "/api/v1/operators/{operator_id}/sessions"): 403,
    ("DELETE", "/api/v1/operators/{operator_id}/sessions/{session_id}"): 403,
    ("GET", "/api/v1/security-policy"): 403,
    ("PATCH", "/api/v1/security-policy"): 403,
    ("GET", "/api/v1/conversations"): 200,
    ("GET", "/api/v1/conversations/{conversation_id}"): 200,
    ("PATCH", "/api/v1/conversations/{conversation_id}"): 200,
    ("POST", "/api/v1/conversations/{conversation_id}/read"): 204,
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): 200,
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): 201,
    ("POST", "/api/v1/conversations/{conversation_id}/typing"): 204,
    ("POST", "/api/v1/conversations/{conversation_id}/attachments"): 201,
    ("GET", "/api/v1/events"): 200,
    ("GET", "/api/v1/labels"): 200,
    ("GET", "/api/v1/team"): 200,
    ("GET", "/api/v1/inbox/sites"): 200,
    ("GET", "/api/v1/canned-responses"): 200,
    ("GET", "/api/v1/sites"): 403,
    ("POST", "/api/v1/sites"): 403,
    ("GET", "/api/v1/sites/{site_id}"): 403,
    ("PATCH", "/api/v1/sites/{site_id}"): 403,
    ("GET", "/api/v1/operators"): 403,
    ("POST", "/api/v1/operators"): 403,
    ("PATCH", "/api/v1/operators/{operator_id}"): 403,
    ("POST", "/api/v1/canned-responses"): 403,
    ("PATCH", "/api/v1/canned-responses/{canned_id}"): 403,
    ("DELETE", "/api/v1/canned-responses/{canned_id}"): 403,
    ("GET", "/api/v1/api-tokens"): 403,
    ("POST", "/api/v1/api-tokens"): 403,
    ("DELETE", "/api/v1/api-tokens/{token_id}"): 403,
    ("GET", "/api/v1/audit-log"): 403,
    ("GET", "/api/v1/webhooks"): 403,
    ("POST", "/api/v1/webhooks"): 403,
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): 403,
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): 403,
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): 403,
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend"): 403,
    ("GET", "/api/v1/emails"): 403,
    ("POST", "/api/v1/emails/{email_id}/resend"): 403,
    ("GET", "/api/v1/blocks"): 403,
    ("POST", "/api/v1/blocks"): 403,
    ("DELETE", "/api/v1/blocks/{block_id}"): 403,
    ("DELETE", "/api/v1/sites/{site_id}"): 403,
    ("POST", "/api/v1/operators/{operator_id}/password"): 403,
    # Its site's visitors' files: it reads their messages, which carry them, anyway.
    ("GET", "/api/v1/visitors/{visitor_id}/attachments"): 200,
    ("GET", "/api/v1/visitors/{visitor_id}/export"): 403,
    ("GET", "/api/v1/reports/summary"): 403,
    ("GET", "/api/v1/reports/timeseries"): 403,
    ("GET", "/api/v1/reports/sites"): 403,
    ("GET", "/api/v1/reports/agents"): 403,
    ("GET", "/api/v1/reports/heatmap"): 403,
    ("GET", "/api/v1/reports/ratings"): 403,
    ("DELETE", "/api/v1/operators/{operator_id}/totp"): 403,
    ("DELETE", "/api/v1/visitors/{visitor_id}"): 403,
}


def test_a_bot_token_against_every_route(client: TestClient) -> None:
    arena = build_arena(client)
    made = arena.call(
        "POST",
        "/api/v1/api-tokens",
        "adm",
        json={"name": "Helper", "role": "bot", "site_id": arena.site1["id"]},
    )
    assert made.status_code == 201, made.text
    bot = Principal("bot", bearer(made.json()["token"]))
    expected = {
        key: BOT_EXPECTED.get(key, _VISITOR_ONLY)
        for key in BUILDERS
        if key[1].startswith("/api/v1/widget/") and key not in BOT_EXPECTED
    } | BOT_EXPECTED
    assert expected.keys() == EXPECTED.keys()
    mismatches = []
    for (method, template), status in expected.items():
        path, body = BUILDERS[(method, template)](arena, "tag")
        response = arena.call(method, path, bot, json=body)
        if response.status_code != status:
            mismatches.append(f"{method} {path}: {response.status_code} != {status}")
    assert not mismatches, "\n".join(mismatches)
    # Site 2's conversation, whatever the route: the same 404 as one that does not exist.
    for method, suffix in [("GET", ""), ("PATCH", ""), ("GET", "/messages"), ("POST", "/typing")]:
        body = {"status": "open"} if method == "PATCH" else None
        response = arena.call(
            method, f"/api/v1/conversations/{arena.conv_c['id']}{suffix}", bot, json=body
        )
        assert response.status_code == 404, (method, suffix, response.text)
