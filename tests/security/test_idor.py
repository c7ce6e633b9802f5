"""Isolation: every API route x every kind of caller, 404s that do not tell "not yours"
from "not there", private notes kept from visitors on every path, and mass assignment.

Columns: none = no credentials; va / vb = visitors A and B of site 1 (the target
conversation is A's); ag1 / ag2 = agents of site 1 / site 2 only; adm = admin (member of
site 1); own = owner; rses = a logged-out session; rtok = a revoked API token; tag / tadm =
agent- and admin-role API tokens made by that admin.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from chatdesk.db.runner import Database
from chatdesk.settings import Settings
from tests.conftest import LiveServer
from tests.factories import add_operator, bearer, csrf, login
from tests.security.arena import (
    BUILDERS,
    MISSING_ID,
    PRINCIPALS,
    SESSION_PRINCIPALS,
    Arena,
    Principal,
    Upload,
    api_routes,
    build_arena,
)

_ANY_OP = "401 401 401 200 200 200 200 401 401 200 200"
_VISITOR = "401 200 200 401 401 401 401 401 401 401 401"
_ADMIN = "401 401 401 403 403 200 200 401 401 403 200"
_ADMIN_201 = _ADMIN.replace("200", "201")
_ADMIN_204 = _ADMIN.replace("200", "204")
_SITE1 = "401 401 401 200 404 200 200 401 401 200 200"

# Columns:                                           none va  vb  ag1 ag2 adm own rses rtok tag tadm
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/widget/config"): "200 200 200 200 200 200 200 200 200 200 200",
    ("POST", "/api/v1/widget/sessions"): "201 201 201 201 201 201 201 201 201 201 201",
    ("POST", "/api/v1/auth/login"): "200 200 200 200 200 200 200 200 200 200 200",
    ("POST", "/api/v1/auth/password-reset"): "202 202 202 202 202 202 202 202 202 202 202",
    ("POST", "/api/v1/auth/password-reset/confirm"): "400 400 400 400 400 400 400 400 400 400 400",
    ("GET", "/api/v1/widget/visitor"): _VISITOR,
    ("PATCH", "/api/v1/widget/visitor"): _VISITOR,
    ("GET", "/api/v1/widget/conversations"): _VISITOR,
    ("POST", "/api/v1/widget/conversations"): _VISITOR.replace("200", "201"),
    ("GET", "/api/v1/widget/conversations/{conversation_id}/messages"): (
        "401 200 404 401 401 401 401 401 401 401 401"
    ),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/messages"): (
        "401 201 404 401 401 401 401 401 401 401 401"
    ),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/typing"): (
        "401 204 404 401 401 401 401 401 401 401 401"
    ),
    # The arena sends no email: its own visitor gets 409, anyone else's conversation 404.
    ("POST", "/api/v1/widget/conversations/{conversation_id}/transcript"): (
        "401 409 404 401 401 401 401 401 401 401 401"
    ),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/attachments"): (
        "401 201 404 401 401 401 401 401 401 401 401"
    ),
    # The arena's conversation is open: its own visitor gets 409 (rated once resolved).
    ("POST", "/api/v1/widget/conversations/{conversation_id}/rating"): (
        "401 409 404 401 401 401 401 401 401 401 401"
    ),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/read"): (
        "401 204 404 401 401 401 401 401 401 401 401"
    ),
    ("GET", "/api/v1/widget/events"): _VISITOR,
    ("POST", "/api/v1/auth/logout"): "401 401 401 204 204 204 204 401 401 204 204",
    ("GET", "/api/v1/auth/me"): _ANY_OP,
    ("PATCH", "/api/v1/auth/me"): _ANY_OP,
    ("PUT", "/api/v1/auth/me/avatar"): _ANY_OP,
    ("DELETE", "/api/v1/auth/me/avatar"): _ANY_OP,
    ("POST", "/api/v1/auth/password"): "401 401 401 204 204 204 204 401 401 403 403",
    # Two-factor sign-in is the person's own: sessions only, never an API token.
    ("POST", "/api/v1/auth/totp/setup"): "401 401 401 200 200 200 200 401 401 403 403",
    ("POST", "/api/v1/auth/totp/enable"): "401 401 401 200 200 200 200 401 401 403 403",
    ("POST", "/api/v1/auth/totp/disable"): "401 401 401 204 204 204 204 401 401 403 403",
    # Sessions are the person's own (and an admin's, for a colleague's): sessions only.
    ("GET", "/api/v1/auth/sessions"): "401 401 401 200 200 200 200 401 401 403 403",
    ("DELETE", "/api/v1/auth/sessions"): "401 401 401 204 204 204 204 401 401 403 403",
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): (
        "401 401 401 204 204 204 204 401 401 403 403"
    ),
    ("GET", "/api/v1/operators/{operator_id}/sessions"): (
        "401 401 401 403 403 200 200 401 401 403 403"
    ),
    ("DELETE", "/api/v1/operators/{operator_id}/sessions"): (
        "401 401 401 403 403 204 204 401 401 403 403"
    ),
    ("DELETE", "/api/v1/operators/{operator_id}/sessions/{session_id}"): (
        "401 401 401 403 403 204 204 401 401 403 403"
    ),
    # Passkeys are the person's own: another's id is 404, API tokens get 403.
    ("GET", "/api/v1/auth/passkeys"): "401 401 401 200 200 200 200 401 401 403 403",
    ("POST", "/api/v1/auth/passkeys/register/options"): (
        "401 401 401 200 200 200 200 401 401 403 403"
    ),
    ("POST", "/api/v1/auth/passkeys/register"): "401 401 401 201 201 201 201 401 401 403 403",
    ("PATCH", "/api/v1/auth/passkeys/{passkey_id}"): (
        "401 401 401 404 404 404 200 401 401 403 403"
    ),
    ("DELETE", "/api/v1/auth/passkeys/{passkey_id}"): (
        "401 401 401 404 404 404 204 401 401 403 403"
    ),
    ("POST", "/api/v1/auth/passkeys/login/options"): (
        "200 200 200 200 200 200 200 200 200 200 200"
    ),
    ("POST", "/api/v1/auth/passkeys/login"): "401 401 401 401 401 401 401 401 401 401 401",
    ("GET", "/api/v1/security-policy"): _ADMIN,
    ("PATCH", "/api/v1/security-policy"): "401 401 401 403 403 403 200 401 401 403 403",
    ("GET", "/api/v1/conversations"): _ANY_OP,
    ("GET", "/api/v1/conversations/{conversation_id}"): _SITE1,
    ("PATCH", "/api/v1/conversations/{conversation_id}"): _SITE1,
    ("POST", "/api/v1/conversations/{conversation_id}/read"): _SITE1.replace("200", "204"),
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): _SITE1,
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): _SITE1.replace("200", "201"),
    ("POST", "/api/v1/conversations/{conversation_id}/typing"): _SITE1.replace("200", "204"),
    ("POST", "/api/v1/conversations/{conversation_id}/attachments"): _SITE1.replace("200", "201"),
    ("GET", "/api/v1/events"): _ANY_OP,
    ("GET", "/api/v1/labels"): _ANY_OP,
    ("GET", "/api/v1/team"): _ANY_OP,
    ("GET", "/api/v1/inbox/sites"): _ANY_OP,
    ("GET", "/api/v1/sites"): _ADMIN,
    ("POST", "/api/v1/sites"): _ADMIN_201,
    ("GET", "/api/v1/sites/{site_id}"): _ADMIN,
    ("PATCH", "/api/v1/sites/{site_id}"): _ADMIN,
    ("GET", "/api/v1/operators"): _ADMIN,
    ("POST", "/api/v1/operators"): _ADMIN_201,
    ("PATCH", "/api/v1/operators/{operator_id}"): _ADMIN,
    ("GET", "/api/v1/canned-responses"): _ANY_OP,
    ("POST", "/api/v1/canned-responses"): _ADMIN_201,
    ("PATCH", "/api/v1/canned-responses/{canned_id}"): _ADMIN,
    ("DELETE", "/api/v1/canned-responses/{canned_id}"): _ADMIN_204,
    ("GET", "/api/v1/api-tokens"): _ADMIN,
    ("POST", "/api/v1/api-tokens"): _ADMIN_201,
    ("DELETE", "/api/v1/api-tokens/{token_id}"): _ADMIN_204,
    ("GET", "/api/v1/audit-log"): "401 401 401 403 403 403 200 401 401 403 403",
    ("GET", "/api/v1/webhooks"): _ADMIN,
    ("POST", "/api/v1/webhooks"): _ADMIN_201,
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): _ADMIN,
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): _ADMIN_204,
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): _ADMIN,
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend"): _ADMIN.replace(
        "200", "202"
    ),
    ("GET", "/api/v1/emails"): _ADMIN,
    # The arena sends no email: a failed email cannot be sent again there (409).
    ("POST", "/api/v1/emails/{email_id}/resend"): _ADMIN.replace("200", "409"),
    ("GET", "/api/v1/blocks"): _ANY_OP,
    ("POST", "/api/v1/blocks"): _SITE1.replace("200", "201"),
    ("DELETE", "/api/v1/blocks/{block_id}"): "401 401 401 403 404 204 204 401 401 403 204",
    ("DELETE", "/api/v1/sites/{site_id}"): _ADMIN_204,
    ("POST", "/api/v1/operators/{operator_id}/password"): _ADMIN,
    ("GET", "/api/v1/visitors/{visitor_id}/attachments"): _SITE1,
    ("GET", "/api/v1/visitors/{visitor_id}/export"): _ADMIN,
    # Reports of site 1: its agent, admins and owners; site 2's agent 404.
    ("GET", "/api/v1/reports/summary"): _SITE1,
    ("GET", "/api/v1/reports/timeseries"): _SITE1,
    ("GET", "/api/v1/reports/sites"): _SITE1,
    ("GET", "/api/v1/reports/agents"): _SITE1,
    ("GET", "/api/v1/reports/heatmap"): _SITE1,
    ("GET", "/api/v1/reports/ratings"): _SITE1,
    # A person's session only: API tokens get 403 whatever their role.
    (
        "DELETE",
        "/api/v1/operators/{operator_id}/totp",
    ): "401 401 401 403 403 409 409 401 401 403 403",
    ("DELETE", "/api/v1/visitors/{visitor_id}"): _ADMIN_204,
}

_CODES = {
    400: "token_invalid",  # a password link nobody was sent (the only 400 in the table)
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
}


@pytest.fixture
def arena(client: TestClient) -> Arena:
    return build_arena(client)


def test_every_api_route_is_in_the_table(client: TestClient) -> None:
    routes = api_routes(client.app)  # type: ignore[arg-type]
    assert len(routes) > 30
    missing = routes - EXPECTED.keys()
    assert not missing, f"add these routes to EXPECTED and BUILDERS: {sorted(missing)}"
    assert not EXPECTED.keys() - routes, "EXPECTED lists routes the app no longer has"
    assert EXPECTED.keys() == BUILDERS.keys()


def test_every_route_answers_every_principal_as_the_table_says(arena: Arena) -> None:
    mismatches = []
    for (method, template), row in EXPECTED.items():
        for who, expected in zip(PRINCIPALS, row.split(), strict=True):
            principal = arena.principals[who]
            if template == "/api/v1/auth/logout" and who in SESSION_PRINCIPALS:
                # Logging out ends the session: spend a second one of the same operator.
                assert principal.operator is not None
                principal = arena.session(principal.operator)
            path, body = BUILDERS[(method, template)](arena, who)
            response = arena.call(method, path, principal, json=body)
            if response.status_code != int(expected):
                mismatches.append(f"{who:5} {method} {path}: {response.status_code} != {expected}")
                continue
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"] == _CODES[response.status_code], (who, path, error)
                assert set(error) == {"code", "message", "details"}
    assert not mismatches, "\n".join(mismatches)


def _same_404(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code == 404
    assert a.content == b.content
    skip = {"x-request-id", "date"}
    assert {k: v for k, v in a.headers.items() if k not in skip} == {
        k: v for k, v in b.headers.items() if k not in skip
    }


CONVERSATION_ROUTES = [
    ("GET", ""),
    ("PATCH", ""),
    ("POST", "/read"),
    ("GET", "/messages"),
    ("POST", "/messages"),
    ("POST", "/typing"),
    ("POST", "/attachments"),
]


def test_not_yours_and_not_there_are_the_same_404(arena: Arena) -> None:
    for method, suffix in CONVERSATION_ROUTES:
        _check_same_404(arena, method, suffix)
    # Nothing was written through the refused calls.
    history = arena.call("GET", f"/api/v1/conversations/{arena.conv_a['id']}/messages", "own")
    assert [m["body"] for m in history.json()["messages"]] == ["Hello from A"]
    conversation = arena.call("GET", f"/api/v1/conversations/{arena.conv_a['id']}", "own")
    assert conversation.json()["status"] == "open"


def _check_same_404(arena: Arena, method: str, suffix: str) -> None:
    body: Any = {"status": "pending"} if method == "PATCH" else None
    if suffix == "/messages" and method == "POST":
        body = {"body": "x", "client_msg_id": "same-id"}
    if suffix == "/attachments":
        body = Upload()
    for missing in (MISSING_ID, "nope", "0", "%2e%2e"):
        not_yours = arena.call(
            method, f"/api/v1/conversations/{arena.conv_a['id']}{suffix}", "ag2", json=body
        )
        not_there = arena.call(method, f"/api/v1/conversations/{missing}{suffix}", "ag1", json=body)
        _same_404(not_yours, not_there)
    if suffix == "/read":
        body = {"message_id": arena.first_a}
    if suffix in ("/messages", "/typing", "/read", "/attachments"):
        not_yours = arena.call(
            method, f"/api/v1/widget/conversations/{arena.conv_a['id']}{suffix}", "vb", json=body
        )
        not_there = arena.call(
            method, f"/api/v1/widget/conversations/{MISSING_ID}{suffix}", "va", json=body
        )
        _same_404(not_yours, not_there)
        # A visitor of another site gets the same answer.
        other_site = arena.call(
            method,
            f"/api/v1/widget/conversations/{arena.conv_a['id']}{suffix}",
            Principal("vc", bearer(arena.token_c)),
            json=body,
        )
        _same_404(not_yours, other_site)


def test_settings_ids_that_do_not_exist_are_404(arena: Arena) -> None:
    for method, path, body in [
        ("GET", f"/api/v1/sites/{MISSING_ID}", None),
        ("PATCH", f"/api/v1/sites/{MISSING_ID}", {"greeting": "x"}),
        ("PATCH", f"/api/v1/operators/{MISSING_ID}", {"name": "x"}),
        ("PATCH", f"/api/v1/canned-responses/{MISSING_ID}", {"body": "x"}),
        ("DELETE", f"/api/v1/canned-responses/{MISSING_ID}", None),
        ("DELETE", f"/api/v1/api-tokens/{MISSING_ID}", None),
        ("PATCH", f"/api/v1/webhooks/{MISSING_ID}", {"active": False}),
        ("DELETE", f"/api/v1/webhooks/{MISSING_ID}", None),
        ("GET", f"/api/v1/webhooks/{MISSING_ID}/deliveries", None),
        ("POST", f"/api/v1/webhooks/{MISSING_ID}/deliveries/{MISSING_ID}/resend", None),
        ("POST", f"/api/v1/emails/{MISSING_ID}/resend", None),
        ("POST", f"/api/v1/emails/msg_{MISSING_ID}/resend", None),
    ]:
        response = arena.call(method, path, "own", json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"


def test_lists_only_hold_what_the_caller_may_see(arena: Arena) -> None:
    a, b, c = arena.conv_a["id"], arena.conv_b["id"], arena.conv_c["id"]
    ids = lambda who, path, key="conversations": {  # noqa: E731
        item["id"] for item in arena.call("GET", path, who).json()[key]
    }
    assert ids("va", "/api/v1/widget/conversations") == {a}
    assert ids("vb", "/api/v1/widget/conversations") == {b}
    assert ids("ag1", "/api/v1/conversations") == {a, b}
    assert ids("tag", "/api/v1/conversations") == {a, b}
    assert ids("ag2", "/api/v1/conversations") == {c}
    assert ids("own", "/api/v1/conversations") == {a, b, c}
    # Filters cannot widen an agent's view.
    site1 = arena.site1["id"]
    assert ids("ag2", f"/api/v1/conversations?site_id={site1}") == set()
    visitor_a = arena.conv_a["visitor_id"]
    assert ids("ag2", f"/api/v1/conversations?visitor_id={visitor_a}") == set()
    assert ids("ag2", "/api/v1/inbox/sites", "sites") == {arena.site2["id"]}
    # The team of a site the agent does not work on: the same 404 as a site that is not.
    not_yours = arena.call("GET", f"/api/v1/team?site_id={site1}", "ag2")
    not_there = arena.call("GET", f"/api/v1/team?site_id={MISSING_ID}", "ag1")
    _same_404(not_yours, not_there)
    team = ids("ag1", f"/api/v1/team?site_id={site1}", "operators")
    assert arena.agent1.id in team and arena.agent2.id not in team
    # Event logs: each reader sees only its own conversations' events.
    for who, allowed in [("va", {a}), ("vb", {b}), ("ag2", {c}), ("ag1", {a, b})]:
        events = arena.call("GET", "/api/v1/widget/events?after=0&wait=0", who)
        if who.startswith("ag"):
            events = arena.call("GET", "/api/v1/events?after=0&wait=0", who)
        seen = {e["conversation_id"] for e in events.json()["events"]} - {None}
        assert seen == allowed, who


def _add_private_note(arena: Arena) -> None:
    cid = arena.conv_a["id"]
    note = arena.call(
        "POST",
        f"/api/v1/conversations/{cid}/messages",
        "ag1",
        json={"body": "SECRET-NOTE visitor is rude", "client_msg_id": "n1", "private": True},
    )
    assert note.status_code == 201 and note.json()["private"] is True


def test_private_notes_never_reach_the_visitor_over_rest(arena: Arena) -> None:
    cid = arena.conv_a["id"]
    arena.call("PATCH", f"/api/v1/conversations/{cid}", "ag1", json={"labels": ["vip-secret"]})
    _add_private_note(arena)
    history = arena.call("GET", f"/api/v1/widget/conversations/{cid}/messages", "va")
    events = arena.call("GET", "/api/v1/widget/events?after=0&wait=0", "va")
    listing = arena.call("GET", "/api/v1/widget/conversations", "va")
    another = arena.call(
        "POST", "/api/v1/widget/conversations", "va", json={"body": "x", "client_msg_id": "r1"}
    )
    for response in (history, events, listing, another):
        assert response.status_code in (200, 201), response.text
        assert "SECRET" not in response.text
        assert "vip-secret" not in response.text
    (conversation,) = [c for c in listing.json()["conversations"] if c["id"] == cid]
    assert conversation["last_message"]["preview"] == "Hello from A"
    # Its unread_count is the visitor's own (the team's messages they have not read): the
    # private note does not count, and the operators' count (the visitor's message) is
    # not what they get.
    assert conversation["unread_count"] == 0 and conversation["labels"] == []
    # The operator side does see it, so the check above is not vacuous.
    staff = arena.call("GET", f"/api/v1/conversations/{cid}/messages", "ag1")
    assert "SECRET-NOTE" in staff.text
    staff_events = arena.call("GET", "/api/v1/events?after=0&wait=0", "ag1")
    assert "SECRET-NOTE" in staff_events.text


# -- SSE, on a real server -------------------------------------------------------------------


class _Stream:
    """Reads an SSE stream in a thread until ``until`` appears (or a deadline passes)."""

    def __init__(self, url: str, path: str, headers: dict[str, str], until: str) -> None:
        self.text = ""
        self.connected = threading.Event()
        self.done = threading.Event()
        self._args = (url, path, headers, until)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        url, path, headers, until = self._args
        deadline = time.monotonic() + 15
        try:
            with (
                httpx.Client(base_url=url, timeout=5) as client,
                client.stream(
                    "GET", path, headers={**headers, "Accept": "text/event-stream"}
                ) as response,
            ):
                assert response.status_code == 200
                self.connected.set()
                for line in response.iter_lines():
                    self.text += line + "\n"
                    if until in line or time.monotonic() > deadline:
                        break
        finally:
            self.connected.set()
            self.done.set()

    def wait(self) -> str:
        assert self.done.wait(20)
        return self.text


@pytest.fixture
def live(settings: Settings, live_server: LiveServer) -> Iterator[tuple[LiveServer, Any]]:
    db = Database(settings.database_url)
    db.start()
    try:
        yield live_server, db
    finally:
        db.stop()


@pytest.mark.live
def test_private_notes_and_typing_never_reach_a_visitor_over_sse(
    live: tuple[LiveServer, Any],
) -> None:
    server, db = live
    with httpx.Client(base_url=server.url, timeout=10) as http:
        owner = login(http, add_operator(db, "owner"))
        site1 = http.post("/api/v1/sites", json={"name": "One"}, headers=csrf(owner)).json()
        site2 = http.post("/api/v1/sites", json={"name": "Two"}, headers=csrf(owner)).json()
        agent2 = add_operator(db, "agent")
        http.patch(
            f"/api/v1/operators/{agent2.id}", json={"site_ids": [site2["id"]]}, headers=csrf(owner)
        )

        def visitor(site: dict[str, Any]) -> tuple[str, str]:
            token = http.post(
                "/api/v1/widget/sessions", json={"site_key": site["site_key"]}
            ).json()["visitor_token"]
            made = http.post(
                "/api/v1/widget/conversations",
                json={"body": "hello", "client_msg_id": "first"},
                headers=bearer(token),
            )
            return token, made.json()["conversation"]["id"]

        token_a, cid_a = visitor(site1)
        token_b, cid_b = visitor(site1)
        token_c, cid_c = visitor(site2)
        head = http.get("/api/v1/events", params={"wait": 0}).json()["cursor"]
        with httpx.Client(base_url=server.url, timeout=10) as agent_http:
            login(agent_http, agent2)
            agent_cookie = agent_http.cookies["chatdesk_session"]
        path = f"/api/v1/widget/events?after={head}"
        stream_a = _Stream(server.url, path, bearer(token_a), "PUBLIC-REPLY")
        stream_b = _Stream(server.url, path, bearer(token_b), "MARK-B")
        stream_ag2 = _Stream(
            server.url,
            f"/api/v1/events?after={head}",
            {"Cookie": f"chatdesk_session={agent_cookie}"},
            "MARK-C",
        )
        for stream in (stream_a, stream_b, stream_ag2):
            assert stream.connected.wait(10)
        time.sleep(0.3)

        def op_post(path: str, body: dict[str, Any]) -> None:
            response = http.post(path, json=body, headers=csrf(owner))
            assert response.status_code in (201, 204), response.text

        op_post(f"/api/v1/conversations/{cid_a}/typing", {"private": True})
        op_post(
            f"/api/v1/conversations/{cid_a}/messages",
            {"body": "SECRET-NOTE", "client_msg_id": "note", "private": True},
        )
        http.patch(
            f"/api/v1/conversations/{cid_a}", json={"labels": ["secret-label"]}, headers=csrf(owner)
        )
        op_post(f"/api/v1/conversations/{cid_a}/typing", {"private": False})
        op_post(
            f"/api/v1/conversations/{cid_a}/messages",
            {"body": "PUBLIC-REPLY", "client_msg_id": "reply"},
        )
        seen_a = stream_a.wait()
        op_post(
            f"/api/v1/conversations/{cid_b}/messages", {"body": "MARK-B", "client_msg_id": "mb"}
        )
        op_post(
            f"/api/v1/conversations/{cid_c}/messages", {"body": "MARK-C", "client_msg_id": "mc"}
        )
        seen_b, seen_ag2 = stream_b.wait(), stream_ag2.wait()

    assert "PUBLIC-REPLY" in seen_a
    assert "SECRET" not in seen_a and "secret-label" not in seen_a
    typing = [
        json.loads(line[5:])
        for line in seen_a.splitlines()
        if line.startswith("data:") and '"typing"' in line
    ]
    assert typing and all(event["data"]["private"] is False for event in typing)
    assert "MARK-B" in seen_b and cid_a not in seen_b and "PUBLIC-REPLY" not in seen_b
    assert "MARK-C" in seen_ag2 and cid_a not in seen_ag2 and cid_b not in seen_ag2
    assert token_c  # the site-2 visitor exists so agent 2 has something to see


# -- mass assignment -------------------------------------------------------------------------

FORBIDDEN_FIELDS: dict[str, Any] = {
    "status": "resolved",
    "assignee_id": None,
    "site_id": "SITE",
    "role": "owner",
    "created_at": "2000-01-01T00:00:00Z",
    "private": True,
    "visitor_id": "VISITOR",
    "id": "01aaaaaaaaaaaaaaaaaaaaaaaa",
}


def _with(body: dict[str, Any], field: str, arena: Arena) -> dict[str, Any]:
    value = FORBIDDEN_FIELDS[field]
    if value == "SITE":
        value = arena.site2["id"]
    if value == "VISITOR":
        value = arena.conv_b["visitor_id"]
    if field == "assignee_id":
        value = arena.agent1.id
    return {**body, field: value}


def _state(arena: Arena) -> Any:
    conversations = arena.call("GET", "/api/v1/conversations", "own").json()["conversations"]
    conv = arena.call("GET", f"/api/v1/conversations/{arena.conv_a['id']}", "own").json()
    history = arena.call("GET", f"/api/v1/conversations/{arena.conv_a['id']}/messages", "own")
    me_a = arena.call("GET", "/api/v1/widget/visitor", "va").json()
    operators = arena.call("GET", "/api/v1/operators", "own").json()["operators"]
    sites = arena.call("GET", "/api/v1/sites", "own").json()["sites"]
    drop = {"updated_at", "last_seen_at"}
    return (
        sorted(c["id"] for c in conversations),
        {k: v for k, v in conv.items() if k not in drop and k != "visitor"},
        history.json(),
        me_a,
        operators,
        [{k: v for k, v in s.items() if k != "updated_at"} for s in sites],
    )


def test_mass_assignment_by_visitors_and_agents_is_refused(arena: Arena) -> None:
    cid = arena.conv_a["id"]
    before = _state(arena)
    # (who, method, path, a valid body, fields this route documents for this caller)
    attempts = [
        ("va", "POST", "/api/v1/widget/conversations", {"body": "x", "client_msg_id": "m1"}, ()),
        ("va", "POST", f"/api/v1/widget/conversations/{cid}/messages",
         {"body": "x", "client_msg_id": "m2"}, ()),
        ("va", "PATCH", "/api/v1/widget/visitor", {"name": "Ann"}, ()),
        ("none", "POST", "/api/v1/widget/sessions", {"site_key": arena.site1["site_key"]}, ()),
        ("ag1", "PATCH", f"/api/v1/conversations/{cid}", {"labels": []},
         ("status", "assignee_id")),
        ("ag1", "POST", f"/api/v1/conversations/{cid}/messages",
         {"body": "x", "client_msg_id": "m3"}, ("private",)),
        ("ag1", "POST", f"/api/v1/conversations/{cid}/typing", {}, ("private",)),
        ("ag1", "PATCH", f"/api/v1/operators/{arena.agent1.id}", {"name": "A"}, ()),
        ("ag1", "POST", "/api/v1/canned-responses", {"shortcut": "zz", "body": "x"}, ()),
        ("tag", "PATCH", f"/api/v1/conversations/{cid}", {"labels": []},
         ("status", "assignee_id")),
    ]  # fmt: skip
    for field in FORBIDDEN_FIELDS:
        for who, method, path, body, documented in attempts:
            if field in documented:
                continue
            response = arena.call(method, path, who, json=_with(body, field, arena))
            assert response.status_code in (403, 422), (field, who, path, response.text)
            assert response.json()["error"]["code"] in ("forbidden", "validation_error")
    assert _state(arena) == before


def test_agents_cannot_escalate_or_reach_across_sites(arena: Arena) -> None:
    cid = arena.conv_a["id"]
    # An assignee outside the conversation's site is refused, and nothing changes.
    wrong = arena.call(
        "PATCH", f"/api/v1/conversations/{cid}", "ag1", json={"assignee_id": arena.agent2.id}
    )
    assert wrong.status_code == 422
    refused = [
        ("ag1", "PATCH", f"/api/v1/operators/{arena.agent1.id}", {"role": "owner"}, 403),
        ("ag1", "POST", "/api/v1/api-tokens", {"name": "x", "role": "admin"}, 403),
        ("tag", "POST", "/api/v1/api-tokens", {"name": "x", "role": "admin"}, 403),
        ("tag", "PATCH", f"/api/v1/operators/{arena.agent1.id}", {"role": "admin"}, 403),
        ("adm", "POST", "/api/v1/operators", {"email": "o@example.com", "name": "O",
                                               "password": "pw-long-enough-1", "role": "owner"},
         403),
        ("adm", "PATCH", f"/api/v1/operators/{arena.owner.id}", {"name": "Pwned"}, 403),
        ("adm", "PATCH", f"/api/v1/operators/{arena.admin.id}", {"role": "owner"}, 403),
        ("tadm", "PATCH", f"/api/v1/operators/{arena.admin.id}", {"role": "owner"}, 403),
        ("adm", "POST", "/api/v1/api-tokens", {"name": "x", "role": "owner"}, 422),
        ("own", "POST", "/api/v1/sites", {"name": "S", "site_key": "pk_mine"}, 422),
        ("own", "POST", "/api/v1/sites", {"name": "S", "identity_secret": "known"}, 422),
        ("own", "PATCH", f"/api/v1/sites/{arena.site1['id']}", {"id": "x"}, 422),
        ("ag1", "POST", "/api/v1/webhooks", {"url": "https://h.example.com/",
                                              "events": ["message.created"]}, 403),
        ("tag", "PATCH", f"/api/v1/webhooks/{arena.webhook['id']}", {"active": False}, 403),
        ("own", "POST", "/api/v1/webhooks", {"url": "https://h.example.com/",
                                              "events": ["message.created"],
                                              "secret": "whsec_known"}, 422),
        ("own", "PATCH", f"/api/v1/webhooks/{arena.webhook['id']}",
         {"site_id": arena.site2["id"]}, 422),
        ("own", "PATCH", f"/api/v1/webhooks/{arena.webhook['id']}", {"after_event_id": 0}, 422),
    ]  # fmt: skip
    for who, method, path, body, status in refused:
        response = arena.call(method, path, who, json=body)
        assert response.status_code == status, (who, path, body, response.text)
    me = arena.call("GET", "/api/v1/auth/me", "ag1").json()["operator"]
    assert me["role"] == "agent"
    assert me["site_ids"] == [arena.site1["id"]]
    owner = arena.call("GET", "/api/v1/auth/me", "own").json()["operator"]
    assert owner["name"] != "Pwned"
    conv = arena.call("GET", f"/api/v1/conversations/{cid}", "own").json()
    assert conv["assignee_id"] is None
    roles = {o["id"]: o["role"] for o in arena.call("GET", "/api/v1/operators", "own").json()[
        "operators"]}  # fmt: skip
    assert list(roles.values()).count("owner") == 1
    # Nothing about the webhook changed, and its secret is never listed.
    [hook] = arena.call("GET", "/api/v1/webhooks", "own").json()["webhooks"]
    assert hook == {k: v for k, v in arena.webhook.items() if k != "secret"}


# -- console pages ---------------------------------------------------------------------------

#                                   none va  vb  ag1 ag2 adm own rses rtok tag tadm
PAGES: dict[str, str] = {
    "/admin": "303 303 303 200 200 200 200 303 303 303 303",
    "/admin/conversations/{cid}": "303 303 303 200 200 200 200 303 303 303 303",
    "/admin/settings": "303 303 303 403 403 200 200 303 303 303 303",
    "/admin/settings/tokens": "303 303 303 403 403 200 200 303 303 303 303",
    "/admin/settings/webhooks": "303 303 303 403 403 200 200 303 303 303 303",
    "/admin/nowhere": "303 303 303 404 404 404 404 303 303 303 303",
}


def test_console_pages_need_a_live_session(arena: Arena) -> None:
    mismatches = []
    for template, row in PAGES.items():
        path = template.replace("{cid}", arena.conv_a["id"])
        for who, expected in zip(PRINCIPALS, row.split(), strict=True):
            response = arena.call("GET", path, who, follow_redirects=False)
            if response.status_code != int(expected):
                mismatches.append(f"{who} {path}: {response.status_code} != {expected}")
            elif response.status_code == 303:
                assert response.headers["location"].startswith("/admin/login")
            elif response.status_code == 200:
                # The shell holds no conversation data: it is fetched through the API.
                assert "Hello from A" not in response.text
    assert not mismatches, "\n".join(mismatches)
