"""A populated chatdesk for the attack suite: two sites, every kind of principal, and a
request builder for every API route (shared by the IDOR, CSRF and malformed-input tests).

Principals are plain header sets (``Authorization``, or ``Cookie`` + ``X-CSRF-Token``), so
one client can act as anyone; the client's cookie jar is emptied after every call.
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from chatdesk.actions.auth import create_session
from chatdesk.actions.operators import create_operator
from chatdesk.security.passwords import hash_password
from tests.email.conftest import failed_email
from tests.factories import (
    Operator,
    bearer,
    create_site,
    services_db,
    start_conversation,
    visitor_token,
)
from tests.passkey_authenticator import for_client

SESSION_COOKIE = "chatdesk_session"
PRINCIPALS = ("none", "va", "vb", "ag1", "ag2", "adm", "own", "rses", "rtok", "tag", "tadm")
SESSION_PRINCIPALS = ("ag1", "ag2", "adm", "own")
MISSING_ID = "01jzzzzzzzzzzzzzzzzzzzzzzz"
_PASSWORD: list[tuple[str, str]] = []


def shared_password() -> tuple[str, str]:
    """(password, argon2 hash) shared by the arena's operators: argon2 is slow on purpose."""
    if not _PASSWORD:
        password = "pw-" + secrets.token_urlsafe(12)
        _PASSWORD.append((password, hash_password(password)))
    return _PASSWORD[0]


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path template) of every FastAPI route whose path starts with /api/."""
    found: set[tuple[str, str]] = set()

    def walk(routes: Iterable[Any]) -> None:
        for route in routes:
            if hasattr(route, "effective_route_contexts"):  # FastAPI >= 0.16x included routers
                walk(route.effective_route_contexts())
                continue
            if not hasattr(route, "dependant"):  # Starlette routes: docs, static files
                continue
            path = getattr(route, "path_format", None) or route.path
            if path.startswith("/api/"):
                found.update((method, path) for method in route.methods if method != "HEAD")

    walk(app.routes)
    return found


@dataclass(frozen=True)
class Upload:
    """A request body that is one uploaded file (``multipart/form-data``)."""

    name: str = "note.txt"
    data: bytes = b"a file's words\n"
    content_type: str = "text/plain"


def _face() -> tuple[str, bytes, str]:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (30, 60, 90)).save(out, "PNG")
    return "me.png", out.getvalue(), "image/png"


FACE = _face()


@dataclass
class Principal:
    name: str
    headers: dict[str, str]
    operator: Operator | None = None


def new_session(client: TestClient, operator: Operator) -> Principal:
    """A new signed-in session of ``operator``, made by the login action itself (the
    password check is covered by the login route; argon2 is slow on purpose)."""
    _, cookie, csrf_token = services_db(client).write_sync(
        create_session, operator.id, lifetime=timedelta(hours=1), ip=None, user_agent=None
    )
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf_token}
    return Principal(operator.role, headers, operator)


@dataclass
class Arena:
    client: TestClient
    owner: Operator
    admin: Operator
    agent1: Operator
    agent2: Operator
    site1: dict[str, Any]
    site2: dict[str, Any]
    token_a: str
    token_b: str
    token_c: str  # a visitor of site 2
    conv_a: dict[str, Any]
    conv_b: dict[str, Any]
    conv_c: dict[str, Any]
    dummy: Operator  # an agent whose name the matrix changes
    webhook: dict[str, Any]  # the owner's, for conversation.created of every site
    first_a: str = ""  # the id of conv_a's first message (for read receipts)
    principals: dict[str, Principal] = field(default_factory=dict)

    def session(self, operator: Operator) -> Principal:
        return new_session(self.client, operator)

    def as_owner(self) -> dict[str, str]:
        return self.principals["own"].headers

    def api_token(self, creator: str, role: str) -> tuple[str, str]:
        """(id, secret) of a new API token made by principal ``creator``."""
        response = self.call(
            "POST",
            "/api/v1/api-tokens",
            creator,
            json={"name": f"t-{secrets.token_hex(3)}", "role": role},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["token"]

    def call(
        self,
        method: str,
        path: str,
        principal: str | Principal,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        who = principal if isinstance(principal, Principal) else self.principals[principal]
        if isinstance(json, Upload):  # a file upload: multipart, not JSON
            kwargs["files"] = {"file": (json.name, json.data, json.content_type)}
            json = None
        try:
            return self.client.request(
                method, path, json=json, headers={**who.headers, **(headers or {})}, **kwargs
            )
        finally:
            self.client.cookies.clear()


def build_arena(client: TestClient) -> Arena:
    db = services_db(client)
    password, password_hash = shared_password()

    def new_operator(role: str, site_ids: list[str] | None) -> Operator:
        email = f"{role}-{secrets.token_hex(4)}@example.com"
        shape = db.write_sync(
            create_operator,
            None,
            email=email,
            name=f"{role} {email[:10]}",
            role=role,
            password_hash=password_hash,
            site_ids=site_ids,
        )
        return Operator(shape["id"], email, password, role)

    owner = new_operator("owner", None)
    headers = new_session(client, owner).headers
    owner.csrf_token = headers["X-CSRF-Token"]
    client.headers["Cookie"] = headers["Cookie"]
    try:
        site1 = create_site(client, owner, name="Site one")
        site2 = create_site(client, owner, name="Site two")
        # Before the conversations start, so their events become deliveries.
        webhook = client.post(
            "/api/v1/webhooks",
            json={"url": "https://hooks.example.com/arena", "events": ["conversation.created"]},
            headers={"X-CSRF-Token": headers["X-CSRF-Token"]},
        ).json()
    finally:
        del client.headers["Cookie"]
    admin = new_operator("admin", [site1["id"]])
    agent1 = new_operator("agent", [site1["id"]])
    agent2 = new_operator("agent", [site2["id"]])
    dummy = new_operator("agent", [site1["id"]])

    token_a = visitor_token(client, site1["site_key"], name="Ann")
    token_b = visitor_token(client, site1["site_key"], name="Bob")
    token_c = visitor_token(client, site2["site_key"], name="Cy")
    started_a = start_conversation(client, token_a, "Hello from A")
    conv_a = started_a["conversation"]
    conv_b = start_conversation(client, token_b, "Hello from B")["conversation"]
    conv_c = start_conversation(client, token_c, "Hello from C")["conversation"]

    arena = Arena(
        client, owner, admin, agent1, agent2, site1, site2, token_a, token_b, token_c,
        conv_a, conv_b, conv_c, dummy, webhook, started_a["message"]["id"],
    )  # fmt: skip
    p = arena.principals
    p["none"] = Principal("none", {})
    p["va"] = Principal("va", bearer(token_a))
    p["vb"] = Principal("vb", bearer(token_b))
    p["own"] = Principal("owner", headers, owner)
    p["adm"] = arena.session(admin)
    p["ag1"] = arena.session(agent1)
    p["ag2"] = arena.session(agent2)
    revoked = arena.session(agent1)
    assert arena.call("POST", "/api/v1/auth/logout", revoked).status_code == 204
    p["rses"] = Principal("rses", revoked.headers)
    # An admin member of site 1 only makes the tokens: an agent-role token acts as an agent
    # of its creator's sites.
    _, agent_token = arena.api_token("adm", "agent")
    _, admin_token = arena.api_token("adm", "admin")
    revoked_id, revoked_token = arena.api_token("adm", "agent")
    assert arena.call("DELETE", f"/api/v1/api-tokens/{revoked_id}", "adm").status_code == 204
    p["tag"] = Principal("tag", bearer(agent_token))
    p["tadm"] = Principal("tadm", bearer(admin_token))
    p["rtok"] = Principal("rtok", bearer(revoked_token))
    return arena


# -- one request per route -----------------------------------------------------------------

Request = tuple[str, Any]  # (path, JSON body, an Upload, or None)
Builder = Callable[[Arena, str], Request]


def _uniq() -> str:
    return secrets.token_hex(6)


def _fresh_canned(arena: Arena, _who: str) -> Request:
    made = arena.call(
        "POST",
        "/api/v1/canned-responses",
        "own",
        json={"shortcut": f"c{_uniq()}", "body": "Thanks!"},
    )
    assert made.status_code == 201, made.text
    return f"/api/v1/canned-responses/{made.json()['id']}", None


def _fresh_token(arena: Arena, _who: str) -> Request:
    token_id, _ = arena.api_token("own", "agent")
    return f"/api/v1/api-tokens/{token_id}", None


def _fresh_webhook(arena: Arena, _who: str) -> Request:
    made = arena.call(
        "POST",
        "/api/v1/webhooks",
        "own",
        json={"url": f"https://hooks.example.com/{_uniq()}", "events": ["message.created"]},
    )
    assert made.status_code == 201, made.text
    return f"/api/v1/webhooks/{made.json()['id']}", None


def a_delivery(arena: Arena) -> str:
    """The id of one of the arena webhook's deliveries (queued once the worker has run)."""
    path = f"/api/v1/webhooks/{arena.webhook['id']}/deliveries"
    deadline = time.monotonic() + 10
    while True:
        found = arena.call("GET", path, "own").json()["deliveries"]
        if found or time.monotonic() > deadline:
            assert found, "the arena's conversations queued no delivery"
            return str(found[0]["id"])
        time.sleep(0.02)


def _resend(arena: Arena, _who: str) -> Request:
    return f"/api/v1/webhooks/{arena.webhook['id']}/deliveries/{a_delivery(arena)}/resend", None


def _resend_email(arena: Arena, _who: str) -> Request:
    """A fresh failed email each time (the arena sends no email: admins get 409)."""
    payload = {"template": "transcript", "conversation_id": arena.conv_a["id"]}
    return f"/api/v1/emails/{failed_email(services_db(arena.client), payload)}/resend", None


def _fresh_visitor_id(arena: Arena) -> str:
    """A new visitor of site 1 (blocking one of the arena's own would refuse its calls)."""
    token = visitor_token(arena.client, arena.site1["site_key"], name="Troll")
    me = arena.client.get("/api/v1/widget/visitor", headers=bearer(token))
    assert me.status_code == 200, me.text
    return str(me.json()["id"])


def _new_block(arena: Arena, _who: str) -> Request:
    return "/api/v1/blocks", {"visitor_id": _fresh_visitor_id(arena), "duration_seconds": 3600}


def _fresh_block(arena: Arena, _who: str) -> Request:
    made = arena.call("POST", "/api/v1/blocks", "own", json=_new_block(arena, _who)[1])
    assert made.status_code == 201, made.text
    return f"/api/v1/blocks/{made.json()['id']}", None


def _fresh_site(arena: Arena, _who: str) -> Request:
    made = arena.call("POST", "/api/v1/sites", "own", json={"name": f"Gone {_uniq()}"})
    assert made.status_code == 201, made.text
    return f"/api/v1/sites/{made.json()['id']}", None


def _fresh_reset(arena: Arena, _who: str) -> Request:
    made = arena.call("POST", "/api/v1/operators", "own", json=_new_operator(arena, _who)[1])
    assert made.status_code == 201, made.text
    return f"/api/v1/operators/{made.json()['id']}/password", {}


def _password(arena: Arena, who: str) -> Request:
    operator = arena.principals[who].operator
    password = operator.password if operator else "pw-not-a-real-password"
    return "/api/v1/auth/password", {"current_password": password, "new_password": password}


def _totp_off(arena: Arena, who: str) -> Operator | None:
    """The principal's operator with two-factor sign-in off (so setup may start again);
    None for a principal that is no signed-in session."""
    operator = arena.principals[who].operator
    if operator is None or who not in SESSION_PRINCIPALS:
        return None
    body = {"password": operator.password}
    assert arena.call("POST", "/api/v1/auth/totp/disable", who, json=body).status_code == 204
    return operator


def _totp_setup(arena: Arena, who: str) -> Request:
    _totp_off(arena, who)
    return "/api/v1/auth/totp/setup", None


def _totp_enable(arena: Arena, who: str) -> Request:
    """A code of a fresh setup of the principal's own (any code for the others)."""
    if _totp_off(arena, who) is None:
        return "/api/v1/auth/totp/enable", {"code": "123456"}
    made = arena.call("POST", "/api/v1/auth/totp/setup", who)
    assert made.status_code == 200, made.text
    return "/api/v1/auth/totp/enable", {"code": pyotp.TOTP(made.json()["secret"]).now()}


def _totp_disable(arena: Arena, who: str) -> Request:
    operator = arena.principals[who].operator
    password = operator.password if operator else "pw-not-a-real-password"
    return "/api/v1/auth/totp/disable", {"password": password}


def _extra_session_id(arena: Arena, operator: Operator | None) -> str:
    """The id of a new session of ``operator`` (the missing id for no operator)."""
    if operator is None:
        return MISSING_ID
    session_id, _, _ = services_db(arena.client).write_sync(
        create_session, operator.id, lifetime=timedelta(hours=1), ip=None, user_agent=None
    )
    return str(session_id)


def _own_session(arena: Arena, who: str) -> Request:
    """Another device of the principal's own, to sign out."""
    operator = arena.principals[who].operator
    return f"/api/v1/auth/sessions/{_extra_session_id(arena, operator)}", None


def _dummy_session(arena: Arena, _who: str) -> Request:
    session_id = _extra_session_id(arena, arena.dummy)
    return f"/api/v1/operators/{arena.dummy.id}/sessions/{session_id}", None


def _no_passkeys(arena: Arena, who: str) -> None:
    """Remove the principal's passkeys (the matrix adds many; 20 is the most one has)."""
    listed = arena.call("GET", "/api/v1/auth/passkeys", who)
    assert listed.status_code == 200, listed.text
    for passkey in listed.json()["passkeys"]:
        gone = arena.call("DELETE", f"/api/v1/auth/passkeys/{passkey['id']}", who)
        assert gone.status_code == 204, gone.text


def _owners_passkey(arena: Arena) -> str:
    """A new passkey of the owner's, registered over HTTP with a software authenticator."""
    _no_passkeys(arena, "own")
    key = for_client(arena.client)
    options = arena.call("POST", "/api/v1/auth/passkeys/register/options", "own")
    assert options.status_code == 200, options.text
    body = {"name": "Owner's key", "credential": key.register(options.json()["public_key"])}
    made = arena.call("POST", "/api/v1/auth/passkeys/register", "own", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _register_passkey(arena: Arena, who: str) -> Request:
    """A real answer to a challenge of the principal's own (a made-up one for those who
    cannot ask for one)."""
    credential: dict[str, Any] = {"id": "AAAA", "rawId": "AAAA", "response": {}}
    if who in SESSION_PRINCIPALS:
        _no_passkeys(arena, who)
        options = arena.call("POST", "/api/v1/auth/passkeys/register/options", who)
        assert options.status_code == 200, options.text
        credential = for_client(arena.client).register(options.json()["public_key"])
    return "/api/v1/auth/passkeys/register", {"name": "Key", "credential": credential}


def _passkey(arena: Arena, _who: str) -> Request:
    """The owner's own passkey: everyone else's answer is 404."""
    return f"/api/v1/auth/passkeys/{_owners_passkey(arena)}", None


def _passkey_name(arena: Arena, _who: str) -> Request:
    return f"/api/v1/auth/passkeys/{_owners_passkey(arena)}", {"name": "Renamed"}


def _new_operator(_arena: Arena, _who: str) -> Request:
    return "/api/v1/operators", {
        "email": f"new-{_uniq()}@example.com",
        "name": "New",
        "password": "pw-" + secrets.token_urlsafe(12),
        "role": "agent",
    }


def _conv(suffix: str = "", body: Any = None) -> Builder:
    return lambda a, _w: (f"/api/v1/conversations/{a.conv_a['id']}{suffix}", body)


def _wconv(suffix: str, body: Any = None) -> Builder:
    return lambda a, _w: (f"/api/v1/widget/conversations/{a.conv_a['id']}{suffix}", body)


def _message(a: Arena, _w: str) -> dict[str, Any]:
    return {"body": "Hi there", "client_msg_id": _uniq()}


def _report(name: str) -> Builder:
    """A report of site 1 (ADR 0026); the timeseries needs its metric."""
    metric = "&metric=conversations" if name == "timeseries" else ""
    return lambda a, _w: (f"/api/v1/reports/{name}?site_id={a.site1['id']}{metric}", None)


BUILDERS: dict[tuple[str, str], Builder] = {
    # public
    ("GET", "/api/v1/widget/config"): lambda a, _w: (
        f"/api/v1/widget/config?site_key={a.site1['site_key']}",
        None,
    ),
    ("POST", "/api/v1/widget/sessions"): lambda a, _w: (
        "/api/v1/widget/sessions",
        {"site_key": a.site1["site_key"]},
    ),
    ("POST", "/api/v1/auth/login"): lambda a, _w: (
        "/api/v1/auth/login",
        {"email": a.dummy.email, "password": a.dummy.password},
    ),
    ("POST", "/api/v1/auth/password-reset"): lambda a, _w: (
        "/api/v1/auth/password-reset",
        {"email": a.dummy.email},
    ),
    # A token nobody was sent: refused alike for everyone (the real ones are emailed,
    # tests/api/test_password_reset.py).
    ("POST", "/api/v1/auth/password-reset/confirm"): lambda a, _w: (
        "/api/v1/auth/password-reset/confirm",
        {"token": "cdl_" + _uniq(), "password": "a-long-enough-password"},
    ),
    # visitor
    ("GET", "/api/v1/widget/visitor"): lambda a, _w: ("/api/v1/widget/visitor", None),
    ("PATCH", "/api/v1/widget/visitor"): lambda a, _w: (
        "/api/v1/widget/visitor",
        {"page_url": "https://shop.example.com/p"},
    ),
    ("GET", "/api/v1/widget/conversations"): lambda a, _w: ("/api/v1/widget/conversations", None),
    ("POST", "/api/v1/widget/conversations"): lambda a, w: (
        "/api/v1/widget/conversations",
        _message(a, w),
    ),
    ("GET", "/api/v1/widget/conversations/{conversation_id}/messages"): _wconv("/messages"),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/messages"): lambda a, w: (
        f"/api/v1/widget/conversations/{a.conv_a['id']}/messages",
        _message(a, w),
    ),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/typing"): _wconv("/typing"),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/transcript"): _wconv("/transcript"),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/attachments"): _wconv(
        "/attachments", Upload()
    ),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/rating"): _wconv(
        "/rating", {"score": 4, "comment": "Thanks"}
    ),
    ("POST", "/api/v1/widget/conversations/{conversation_id}/read"): lambda a, _w: (
        f"/api/v1/widget/conversations/{a.conv_a['id']}/read",
        {"message_id": a.first_a},
    ),
    ("GET", "/api/v1/widget/events"): lambda a, _w: ("/api/v1/widget/events?after=0&wait=0", None),
    # auth
    ("POST", "/api/v1/auth/logout"): lambda a, _w: ("/api/v1/auth/logout", None),
    ("GET", "/api/v1/auth/me"): lambda a, _w: ("/api/v1/auth/me", None),
    ("PATCH", "/api/v1/auth/me"): lambda a, _w: (
        "/api/v1/auth/me",
        {"notify_unanswered_minutes": 10, "notify_mentions": True},
    ),
    ("PUT", "/api/v1/auth/me/avatar"): lambda a, _w: ("/api/v1/auth/me/avatar", Upload(*FACE)),
    ("DELETE", "/api/v1/auth/me/avatar"): lambda a, _w: ("/api/v1/auth/me/avatar", None),
    ("POST", "/api/v1/auth/password"): _password,
    ("POST", "/api/v1/auth/totp/setup"): _totp_setup,
    ("POST", "/api/v1/auth/totp/enable"): _totp_enable,
    ("POST", "/api/v1/auth/totp/disable"): _totp_disable,
    ("GET", "/api/v1/auth/sessions"): lambda a, _w: ("/api/v1/auth/sessions", None),
    ("GET", "/api/v1/auth/passkeys"): lambda a, _w: ("/api/v1/auth/passkeys", None),
    ("POST", "/api/v1/auth/passkeys/register/options"): lambda a, _w: (
        "/api/v1/auth/passkeys/register/options",
        None,
    ),
    ("POST", "/api/v1/auth/passkeys/register"): _register_passkey,
    ("PATCH", "/api/v1/auth/passkeys/{passkey_id}"): _passkey_name,
    ("DELETE", "/api/v1/auth/passkeys/{passkey_id}"): _passkey,
    ("POST", "/api/v1/auth/passkeys/login/options"): lambda a, _w: (
        "/api/v1/auth/passkeys/login/options",
        None,
    ),
    ("POST", "/api/v1/auth/passkeys/login"): lambda a, _w: (
        "/api/v1/auth/passkeys/login",
        {"credential": {"id": "AAAA", "rawId": "AAAA", "response": {}}},
    ),
    ("DELETE", "/api/v1/auth/sessions"): lambda a, _w: ("/api/v1/auth/sessions", None),
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): _own_session,
    ("GET", "/api/v1/operators/{operator_id}/sessions"): lambda a, _w: (
        f"/api/v1/operators/{a.dummy.id}/sessions",
        None,
    ),
    ("DELETE", "/api/v1/operators/{operator_id}/sessions"): lambda a, _w: (
        f"/api/v1/operators/{a.dummy.id}/sessions",
        None,
    ),
    ("DELETE", "/api/v1/operators/{operator_id}/sessions/{session_id}"): _dummy_session,
    ("GET", "/api/v1/security-policy"): lambda a, _w: ("/api/v1/security-policy", None),
    # Off, so the matrix never holds anyone back.
    ("PATCH", "/api/v1/security-policy"): lambda a, _w: (
        "/api/v1/security-policy",
        {"require_totp": False},
    ),
    # operator
    ("GET", "/api/v1/conversations"): lambda a, _w: ("/api/v1/conversations", None),
    ("GET", "/api/v1/conversations/{conversation_id}"): _conv(),
    ("PATCH", "/api/v1/conversations/{conversation_id}"): _conv("", {"status": "open"}),
    ("POST", "/api/v1/conversations/{conversation_id}/read"): lambda a, _w: (
        f"/api/v1/conversations/{a.conv_a['id']}/read",
        {"message_id": a.first_a},
    ),
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): _conv("/messages"),
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): lambda a, w: (
        f"/api/v1/conversations/{a.conv_a['id']}/messages",
        _message(a, w),
    ),
    ("POST", "/api/v1/conversations/{conversation_id}/typing"): _conv("/typing"),
    ("POST", "/api/v1/conversations/{conversation_id}/attachments"): _conv(
        "/attachments", Upload()
    ),
    ("GET", "/api/v1/events"): lambda a, _w: ("/api/v1/events?after=0&wait=0", None),
    ("GET", "/api/v1/labels"): lambda a, _w: ("/api/v1/labels", None),
    ("GET", "/api/v1/team"): lambda a, _w: ("/api/v1/team", None),
    ("GET", "/api/v1/inbox/sites"): lambda a, _w: ("/api/v1/inbox/sites", None),
    # settings
    ("GET", "/api/v1/sites"): lambda a, _w: ("/api/v1/sites", None),
    ("POST", "/api/v1/sites"): lambda a, _w: ("/api/v1/sites", {"name": f"S {_uniq()}"}),
    ("GET", "/api/v1/sites/{site_id}"): lambda a, _w: (f"/api/v1/sites/{a.site1['id']}", None),
    ("PATCH", "/api/v1/sites/{site_id}"): lambda a, _w: (
        f"/api/v1/sites/{a.site1['id']}",
        {"greeting": "Hello!"},
    ),
    ("GET", "/api/v1/operators"): lambda a, _w: ("/api/v1/operators", None),
    ("POST", "/api/v1/operators"): _new_operator,
    ("PATCH", "/api/v1/operators/{operator_id}"): lambda a, _w: (
        f"/api/v1/operators/{a.dummy.id}",
        {"name": f"Dummy {_uniq()}"},
    ),
    ("GET", "/api/v1/canned-responses"): lambda a, _w: ("/api/v1/canned-responses", None),
    ("POST", "/api/v1/canned-responses"): lambda a, _w: (
        "/api/v1/canned-responses",
        {"shortcut": f"s{_uniq()}", "body": "Hello"},
    ),
    ("PATCH", "/api/v1/canned-responses/{canned_id}"): lambda a, w: (
        _fresh_canned(a, w)[0],
        {"body": f"Thanks again {_uniq()}!"},
    ),
    ("DELETE", "/api/v1/canned-responses/{canned_id}"): _fresh_canned,
    ("GET", "/api/v1/api-tokens"): lambda a, _w: ("/api/v1/api-tokens", None),
    ("POST", "/api/v1/api-tokens"): lambda a, _w: (
        "/api/v1/api-tokens",
        {"name": f"n{_uniq()}", "role": "agent"},
    ),
    ("DELETE", "/api/v1/api-tokens/{token_id}"): _fresh_token,
    ("GET", "/api/v1/audit-log"): lambda a, _w: ("/api/v1/audit-log", None),
    ("GET", "/api/v1/webhooks"): lambda a, _w: ("/api/v1/webhooks", None),
    ("POST", "/api/v1/webhooks"): lambda a, _w: (
        "/api/v1/webhooks",
        {"url": f"https://hooks.example.com/{_uniq()}", "events": ["conversation.created"]},
    ),
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): lambda a, _w: (
        f"/api/v1/webhooks/{a.webhook['id']}",
        {"events": ["conversation.created", "conversation.resolved"]},
    ),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): _fresh_webhook,
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): lambda a, _w: (
        f"/api/v1/webhooks/{a.webhook['id']}/deliveries",
        None,
    ),
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend"): _resend,
    ("GET", "/api/v1/emails"): lambda a, _w: ("/api/v1/emails?status=failed&limit=5", None),
    ("POST", "/api/v1/emails/{email_id}/resend"): _resend_email,
    ("GET", "/api/v1/blocks"): lambda a, _w: ("/api/v1/blocks?include_ended=true", None),
    ("POST", "/api/v1/blocks"): _new_block,
    ("DELETE", "/api/v1/blocks/{block_id}"): _fresh_block,
    ("DELETE", "/api/v1/sites/{site_id}"): _fresh_site,
    ("POST", "/api/v1/operators/{operator_id}/password"): _fresh_reset,
    # The dummy agent has no second factor on: admins and owners get 409, nothing else.
    ("DELETE", "/api/v1/operators/{operator_id}/totp"): lambda a, _w: (
        f"/api/v1/operators/{a.dummy.id}/totp",
        None,
    ),
    ("GET", "/api/v1/reports/summary"): _report("summary"),
    ("GET", "/api/v1/reports/timeseries"): _report("timeseries"),
    ("GET", "/api/v1/reports/sites"): _report("sites"),
    ("GET", "/api/v1/reports/agents"): _report("agents"),
    ("GET", "/api/v1/reports/heatmap"): _report("heatmap"),
    ("GET", "/api/v1/reports/ratings"): _report("ratings"),
    ("GET", "/api/v1/visitors/{visitor_id}/export"): lambda a, _w: (
        f"/api/v1/visitors/{a.conv_a['visitor_id']}/export",
        None,
    ),
    ("DELETE", "/api/v1/visitors/{visitor_id}"): lambda a, _w: (
        f"/api/v1/visitors/{_fresh_visitor_id(a)}",
        None,
    ),
    ("GET", "/api/v1/visitors/{visitor_id}/attachments"): lambda a, _w: (
        f"/api/v1/visitors/{a.conv_a['visitor_id']}/attachments",
        None,
    ),
}

PASSKEY_SIGN_IN = ("/api/v1/auth/passkeys/login/options", "/api/v1/auth/passkeys/login")
# Routes that only visitors (bearer cdv_) or nobody in particular call: never cookie-authenticated.
PUBLIC_OR_VISITOR = {
    key
    for key in BUILDERS
    if key[1].startswith(("/api/v1/widget/", "/api/v1/auth/password-reset"))
    or key[1] in ("/api/v1/auth/login", *PASSKEY_SIGN_IN)
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
