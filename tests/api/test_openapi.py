"""/openapi.json describes every answer (ADR 0009): each /api/v1 operation declares the
JSON shape of its success bodies (or no content) and the error envelope for the rest;
every operation's real success answer matches it; a generated client builds from it
and reads real answers with it."""

from __future__ import annotations

import compileall
import importlib
import io
import json
import secrets
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import insert, select

from chatdesk.actions.auth import create_session
from chatdesk.db.batch import Unit
from chatdesk.db.tables import operator_tokens, operator_totp
from chatdesk.security.operator_links import link_token
from chatdesk.security.totp import TotpSecrets, new_secret
from chatdesk.settings import KNOWN_ATTACHMENT_TYPES, Settings
from chatdesk.web import widget_api
from tests.api.world import PASSWORD, api_world, new_site, quick_operator
from tests.email.conftest import email_settings, failed_email
from tests.factories import bearer, csrf, login, services_db, start_conversation, visitor_token
from tests.passkey_authenticator import for_client
from tests.schema_conformance import conformance_for

HOUR = timedelta(hours=1)
COMPONENT = "#/components/schemas/"
EVENTS = {"/api/v1/events", "/api/v1/widget/events"}


def _api_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
    ]


def _ref(content: dict[str, Any], media: str = "application/json") -> str:
    schema = content[media]["schema"]
    assert schema["$ref"].startswith(COMPONENT), schema
    return str(schema["$ref"]).removeprefix(COMPONENT)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Email on (to a port nothing listens on: nothing is sent during a request), so the
    transcript route answers 202 here."""
    return email_settings(settings, "smtp://127.0.0.1:9")


def test_every_api_operation_declares_its_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    operations = _api_operations(spec)
    assert len(operations) >= 39
    for method, path, operation in operations:
        label = f"{method} {path}"
        responses = operation["responses"]
        successes = [status for status in responses if status.startswith("2")]
        assert successes, label
        for status in successes:
            declared = responses[status]
            if status == "204" or (status == "202" and "content" not in declared):
                # No body: 204, or a 202 that only says "accepted" (the transcript).
                assert "content" not in declared, label
                continue
            name = _ref(declared["content"])
            assert components[name]["type"] == "object" and components[name]["properties"], label
            if path in EVENTS:
                assert declared["content"]["text/event-stream"]["schema"]["type"] == "string"
            elif path.startswith("/api/v1/reports/"):
                # Reports also answer CSV (Accept: text/csv), ADR 0026.
                assert set(declared["content"]) == {"application/json", "text/csv"}, label
            else:
                assert set(declared["content"]) == {"application/json"}, label
        errors = [status for status in responses if not status.startswith("2")]
        assert "default" in errors, label
        for status in errors:
            assert _ref(responses[status]["content"]) == "ErrorEnvelope", (label, status)
    envelope = components["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
    assert components["ErrorBody"]["required"] == ["code", "message", "details"]


def test_the_direct_lane_and_the_service_endpoints_are_described(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    # The direct lane serves these ahead of FastAPI's router; the schema still lists them.
    for route in widget_api.fast_routes():
        for method in route.methods or ():
            if method != "HEAD":
                assert spec["paths"][route.path][method.lower()]["responses"], route.path
    posted = spec["paths"]["/api/v1/widget/conversations/{conversation_id}/messages"]["post"]
    assert _ref(posted["responses"]["201"]["content"]) == "Message"
    assert _ref(posted["responses"]["200"]["content"]) == "Message"
    events = spec["paths"]["/api/v1/widget/events"]["get"]["responses"]["200"]["content"]
    assert _ref(events) == "EventsPage"
    assert _ref(spec["paths"]["/healthz"]["get"]["responses"]["200"]["content"]) == "Health"
    ready = spec["paths"]["/readyz"]["get"]["responses"]
    assert _ref(ready["200"]["content"]) == "Readiness"
    assert _ref(ready["503"]["content"]) == "Readiness"  # failing: the same body, named checks
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json() if response.content else None


def _widget_calls(client: TestClient, site_key: str) -> None:
    ok = _ok
    ok(client.get("/api/v1/widget/config", params={"site_key": site_key}))
    token = ok(client.post("/api/v1/widget/sessions", json={"site_key": site_key}), 201)
    visitor = bearer(token["visitor_token"])
    ok(client.get("/api/v1/widget/visitor", headers=visitor))
    ok(client.patch("/api/v1/widget/visitor", json={"name": "Wanda"}, headers=visitor))
    first = {"body": "Hi", "client_msg_id": secrets.token_hex(6)}
    started = ok(client.post("/api/v1/widget/conversations", json=first, headers=visitor), 201)
    ok(client.post("/api/v1/widget/conversations", json=first, headers=visitor))  # a repeat
    ok(client.get("/api/v1/widget/conversations", headers=visitor))
    messages = f"/api/v1/widget/conversations/{started['conversation']['id']}/messages"
    again = {"body": "Still there?", "client_msg_id": secrets.token_hex(6)}
    ok(client.post(messages, json=again, headers=visitor), 201)
    sent = ok(client.post(messages, json=again, headers=visitor))  # a repeat
    ok(client.get(messages, headers=visitor))
    read = messages.removesuffix("/messages") + "/read"
    ok(client.post(read, json={"message_id": sent["id"]}, headers=visitor), 204)
    typing = messages.removesuffix("/messages") + "/typing"
    ok(client.post(typing, headers=visitor), 204)
    uploads = messages.removesuffix("/messages") + "/attachments"
    png = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(png, "PNG")
    image = {"file": ("dot.png", png.getvalue(), "image/png")}
    attachment = ok(client.post(uploads, files=image, headers=visitor), 201)
    # The signed links (outside /api/, checked against their declared types all the same).
    assert client.get(attachment["url"]).status_code == 200
    assert client.get(attachment["thumbnail_url"]).status_code == 200
    ok(client.patch("/api/v1/widget/visitor", json={"email": "wanda@example.com"}, headers=visitor))
    transcript = messages.removesuffix("/messages") + "/transcript"
    ok(client.post(transcript, headers=visitor), 202)
    events = ok(client.get("/api/v1/widget/events?after=0&wait=0", headers=visitor))
    assert events["events"], events


def _operator_calls(client: TestClient, op: dict[str, str], conversation_id: str) -> None:
    ok = _ok
    one = f"/api/v1/conversations/{conversation_id}"
    ok(client.get("/api/v1/conversations", headers=op))
    ok(client.get(one, headers=op))
    ok(client.patch(one, json={"status": "pending", "labels": ["vip"]}, headers=op))
    ok(client.post(f"{one}/read", headers=op))
    note = {"file": ("note.txt", b"words", "text/plain")}
    file = ok(client.post(f"{one}/attachments", files=note, headers=op), 201)
    reply = {
        "body": "Hello!",
        "client_msg_id": secrets.token_hex(6),
        "private": True,
        "attachment_ids": [file["id"]],
    }
    note = ok(client.post(f"{one}/messages", json=reply, headers=op), 201)
    visitor_id = ok(client.get(one, headers=op))["visitor_id"]
    ok(client.get(f"/api/v1/visitors/{visitor_id}/attachments", headers=op))
    ok(client.get(f"/api/v1/visitors/{visitor_id}/export", headers=op))
    ok(client.post(f"{one}/read", json={"message_id": note["id"]}, headers=op), 204)
    ok(client.post(f"{one}/messages", json=reply, headers=op))  # a repeat
    ok(client.get(f"{one}/messages", headers=op))
    ok(client.post(f"{one}/typing", headers=op), 204)
    events = ok(client.get("/api/v1/events?after=0&wait=0", headers=op))
    assert {event["type"] for event in events["events"]} >= {"conversation.updated"}
    for path in ("/api/v1/labels", "/api/v1/team", "/api/v1/inbox/sites", "/api/v1/auth/me"):
        ok(client.get(path, headers=op))
    face = io.BytesIO()
    Image.new("RGB", (60, 40), (9, 8, 7)).save(face, "PNG")
    picture = {"file": ("me.png", face.getvalue(), "image/png")}
    me = ok(client.put("/api/v1/auth/me/avatar", files=picture, headers=op))["operator"]
    # The face's URL (outside /api/, checked against its declared types all the same).
    assert client.get(me["avatar_url"]).headers["content-type"] == "image/webp"
    initials = ok(client.delete("/api/v1/auth/me/avatar", headers=op))["operator"]
    assert client.get(initials["avatar_url"]).headers["content-type"].startswith("image/svg+xml")


def _settings_calls(client: TestClient, op: dict[str, str]) -> None:
    ok = _ok
    site = new_site(client, op, name="Second")
    ok(client.get("/api/v1/sites", headers=op))
    ok(client.get(f"/api/v1/sites/{site['id']}", headers=op))
    ok(client.patch(f"/api/v1/sites/{site['id']}", json={"greeting": "Hey"}, headers=op))
    agent = {"email": "agent@example.com", "name": "Al", "password": "long-password-1"}
    made = ok(client.post("/api/v1/operators", json=agent, headers=op), 201)
    ok(client.get("/api/v1/operators", headers=op))
    ok(client.patch(f"/api/v1/operators/{made['id']}", json={"name": "Alan"}, headers=op))
    ok(client.post(f"/api/v1/operators/{made['id']}/password", json={}, headers=op))
    troll = client.post("/api/v1/widget/sessions", json={"site_key": site["site_key"]})
    block = {"visitor_id": troll.json()["visitor"]["id"], "duration_seconds": 600}
    made_block = ok(client.post("/api/v1/blocks", json=block, headers=op), 201)
    ok(client.get("/api/v1/blocks?include_ended=true", headers=op))
    ok(client.delete(f"/api/v1/blocks/{made_block['id']}", headers=op), 204)
    canned = {"shortcut": "hi", "body": "Hello there"}
    made = ok(client.post("/api/v1/canned-responses", json=canned, headers=op), 201)
    ok(client.get("/api/v1/canned-responses", headers=op))
    edit = {"shortcut": "hello", "body": "Hello again"}
    ok(client.patch(f"/api/v1/canned-responses/{made['id']}", json=edit, headers=op))
    ok(client.delete(f"/api/v1/canned-responses/{made['id']}", headers=op), 204)
    made = ok(client.post("/api/v1/api-tokens", json={"name": "ci"}, headers=op), 201)
    ok(client.get("/api/v1/api-tokens", headers=op))
    ok(client.delete(f"/api/v1/api-tokens/{made['id']}", headers=op), 204)
    ok(client.get("/api/v1/audit-log", headers=op))
    for report in ("summary", "sites", "agents", "heatmap", "ratings"):
        ok(client.get(f"/api/v1/reports/{report}?tz=Europe/Paris", headers=op))
    ok(client.get("/api/v1/reports/timeseries?metric=first_response&interval=hour", headers=op))
    hook = {"url": "https://hooks.example.com/in", "events": ["conversation.created"]}
    made = ok(client.post("/api/v1/webhooks", json=hook, headers=op), 201)
    ok(client.get("/api/v1/webhooks", headers=op))
    ok(client.patch(f"/api/v1/webhooks/{made['id']}", json={"active": False}, headers=op))
    ok(client.patch(f"/api/v1/webhooks/{made['id']}", json={"active": True}, headers=op))
    token = client.post("/api/v1/widget/sessions", json={"site_key": site["site_key"]})
    visitor = bearer(token.json()["visitor_token"])
    first = {"body": "Hello", "client_msg_id": "hook-1"}
    ok(client.post("/api/v1/widget/conversations", json=first, headers=visitor), 201)
    deliveries: list[Any] = []
    for _ in range(200):  # the worker queues the delivery within a moment
        deliveries = ok(client.get(f"/api/v1/webhooks/{made['id']}/deliveries", headers=op))[
            "deliveries"
        ]
        if deliveries:
            break
        time.sleep(0.02)
    resend = f"/api/v1/webhooks/{made['id']}/deliveries/{deliveries[0]['id']}/resend"
    ok(client.post(resend, headers=op), 202)
    ok(client.delete(f"/api/v1/webhooks/{made['id']}", headers=op), 204)
    payload = {"template": "transcript", "conversation_id": "01jzzzzzzzzzzzzzzzzzzzzzzz"}
    email_id = failed_email(services_db(client), payload)
    ok(client.get("/api/v1/emails?status=failed", headers=op))
    ok(client.post(f"/api/v1/emails/{email_id}/resend", headers=op), 202)
    someone = visitor_token(client, site["site_key"], name="Erin Erased")
    gone = start_conversation(client, someone, "Forget me")["conversation"]["visitor_id"]
    ok(client.delete(f"/api/v1/visitors/{gone}", headers=op), 204)
    ok(client.delete(f"/api/v1/sites/{site['id']}", headers=op), 204)


def _rating_call(
    client: TestClient, op: dict[str, str], conversation_id: str, visitor: dict[str, str]
) -> None:
    one = f"/api/v1/conversations/{conversation_id}"
    _ok(client.patch(one, json={"status": "resolved"}, headers=op))
    rating = {"score": 5, "comment": "Thanks!"}
    rate = f"/api/v1/widget/conversations/{conversation_id}/rating"
    _ok(client.post(rate, json=rating, headers=visitor), 201)


def _session_calls(client: TestClient, op: dict[str, str]) -> None:
    """The Sessions page and the sign-in rule (ADR 0030)."""
    db = services_db(client)
    agent = quick_operator(client, "agent", name="Two Phones")
    phone, _, _ = db.write_sync(create_session, agent.id, lifetime=HOUR, ip=None, user_agent=None)
    db.write_sync(create_session, agent.id, lifetime=HOUR, ip="10.0.0.9", user_agent="curl/8")
    _ok(client.get("/api/v1/auth/sessions", headers=op))
    _ok(client.get(f"/api/v1/operators/{agent.id}/sessions", headers=op))
    _ok(client.delete(f"/api/v1/operators/{agent.id}/sessions/{phone}", headers=op), 204)
    _ok(client.delete(f"/api/v1/operators/{agent.id}/sessions", headers=op), 204)
    me = _ok(client.get("/api/v1/auth/me", headers=op))["operator"]["id"]
    other, _, _ = db.write_sync(create_session, me, lifetime=HOUR, ip=None, user_agent=None)
    _ok(client.delete(f"/api/v1/auth/sessions/{other}", headers=op), 204)
    _ok(client.delete("/api/v1/auth/sessions", headers=op), 204)
    _ok(client.get("/api/v1/security-policy", headers=op))
    _ok(client.patch("/api/v1/security-policy", json={"require_totp": False}, headers=op))


def _passkey_calls(client: TestClient, op: dict[str, str]) -> None:
    """Passkeys (ADR 0030): a real ceremony with a software authenticator."""
    key = for_client(client)
    options = _ok(client.post("/api/v1/auth/passkeys/register/options", headers=op))
    body = {"name": "Key", "credential": key.register(options["public_key"])}
    made = _ok(client.post("/api/v1/auth/passkeys/register", json=body, headers=op), 201)
    _ok(client.get("/api/v1/auth/passkeys", headers=op))
    path = f"/api/v1/auth/passkeys/{made['id']}"
    _ok(client.patch(path, json={"name": "Laptop"}, headers=op))
    session = dict(client.cookies)
    client.cookies.clear()
    options = _ok(client.post("/api/v1/auth/passkeys/login/options"))
    credential = key.assert_(options["public_key"])
    _ok(client.post("/api/v1/auth/passkeys/login", json={"credential": credential}))
    client.cookies.clear()
    for name, value in session.items():
        client.cookies.set(name, value)
    _ok(client.delete(path, headers=op), 204)


def _totp_on(unit: Unit, operator_id: str, sealed: str) -> None:
    unit.conn.execute(
        insert(operator_totp).values(
            operator_id=operator_id, secret=sealed, enabled_at=unit.now, updated_at=unit.now
        )
    )


def _password_link_calls(client: TestClient, op: dict[str, str]) -> None:
    """Invite an operator and set their password with the invitation's link, made as the
    email sender makes it; ask for a reset link."""
    invited = {"email": "ivy@example.com", "name": "Ivy"}
    made = _ok(client.post("/api/v1/operators", json=invited, headers=op), 201)
    assert made["invitation"] == "sent"
    query = select(operator_tokens.c.id).where(operator_tokens.c.operator_id == made["id"])
    token_id = services_db(client).read_sync(lambda conn: conn.execute(query).scalar_one())
    secret = client.app.state.services.settings.secret_key.get_secret_value()  # type: ignore[attr-defined]
    body = {"token": link_token(secret, token_id), "password": "ivy-long-password"}
    _ok(client.post("/api/v1/auth/password-reset/confirm", json=body), 204)
    _ok(client.post("/api/v1/auth/password-reset", json={"email": "ivy@example.com"}), 202)


def test_every_operation_answers_as_declared(client: TestClient) -> None:
    checker = conformance_for(client.app)  # type: ignore[arg-type]
    checker.seen.clear()
    world = api_world(client)
    owner = login(client, world.owner)  # the audit log is the owner's; tokens are never owners
    op = csrf(owner)
    _widget_calls(client, world.site["site_key"])
    _operator_calls(client, op, world.conversation["id"])
    _rating_call(client, op, world.conversation["id"], world.visitor)
    _settings_calls(client, op)
    ok_me = {"notify_unanswered_minutes": 30, "notify_mentions": False}
    _ok(client.patch("/api/v1/auth/me", json=ok_me, headers=op))
    code = pyotp.TOTP(_ok(client.post("/api/v1/auth/totp/setup", headers=op))["secret"]).now()
    _ok(client.post("/api/v1/auth/totp/enable", json={"code": code}, headers=op))
    _ok(client.post("/api/v1/auth/totp/disable", json={"password": PASSWORD}, headers=op), 204)
    agent = quick_operator(client, "agent", name="Lost Phone")
    key = client.app.state.services.settings.secret_key.get_secret_value()  # type: ignore[attr-defined]
    sealed = TotpSecrets(key).seal(agent.id, new_secret())
    services_db(client).write_sync(_totp_on, agent.id, sealed)
    _ok(client.delete(f"/api/v1/operators/{agent.id}/totp", headers=op), 204)
    _password_link_calls(client, op)
    _session_calls(client, op)
    _passkey_calls(client, op)
    change = {"current_password": PASSWORD, "new_password": "another-long-password"}
    _ok(client.post("/api/v1/auth/password", json=change, headers=op), 204)
    _ok(client.post("/api/v1/auth/logout", headers=op), 204)
    # Every answer above was checked against the schema by the client's hook (conftest).
    spec = client.get("/openapi.json").json()
    answered = {(method, path) for method, path, status in checker.seen if status < 300}
    missing = {(m, p) for m, p, _ in _api_operations(spec)} - answered
    assert missing == set()
    repeats = {(m, p) for m, p, status in checker.seen if status == 200 and m == "POST"}
    assert ("POST", "/api/v1/widget/conversations/{conversation_id}/messages") in repeats


def _generate(spec: dict[str, Any], tmp_path: Path) -> str:
    package = f"chatdesk_client_{secrets.token_hex(4)}"
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    # No post hooks: the client is not formatted, only generated, compiled and imported.
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "package_name_override": package,
                "post_hooks": [],
                # Attachments are served as their own types; a client reads them as bytes.
                "content_type_overrides": {
                    kind: "application/octet-stream"
                    for kind in KNOWN_ATTACHMENT_TYPES | {"image/webp"}
                },
            }
        )
    )
    generated = subprocess.run(
        [
            *(sys.executable, "-m", "openapi_python_client", "generate"),
            *("--path", str(tmp_path / "openapi.json")),
            *("--output-path", str(tmp_path / "client")),
            *("--config", str(tmp_path / "config.json")),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert compileall.compile_dir(tmp_path / "client", quiet=1)
    return package


def test_a_generated_client_builds_and_reads_real_answers(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _generate(client.get("/openapi.json").json(), tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "client"))
    generated = importlib.import_module(package + ".client")
    operator_api = importlib.import_module(package + ".api.operator")
    models = importlib.import_module(package + ".models")

    world = api_world(client)
    api = generated.Client(base_url="http://testserver").set_httpx_client(client)
    client.headers.update(world.op)  # the generated client sends through this one
    conversation_id = world.conversation["id"]
    listing = importlib.import_module(
        f"{operator_api.__name__}.get_conversations_api_v1_conversations_get"
    ).sync(client=api)
    assert isinstance(listing, models.ConversationPage)
    assert listing.conversations[0].id == conversation_id
    assert listing.conversations[0].visitor.name == "Vera Visitor"
    reply = importlib.import_module(
        f"{operator_api.__name__}.post_message_api_v1_conversations_conversation_id_messages_post"
    ).sync(
        conversation_id,
        client=api,
        body=models.OperatorMessageIn(body="Hello Vera", client_msg_id="m-1"),
    )
    assert isinstance(reply, models.Message) and reply.body == "Hello Vera"
    events = importlib.import_module(f"{operator_api.__name__}.get_events_api_v1_events_get").sync(
        client=api, after=0, wait=0
    )
    assert isinstance(events, models.EventsPage)
    assert [event.type_ for event in events.events][-1] == "message.created"
    missing = importlib.import_module(
        f"{operator_api.__name__}.get_conversation_api_v1_conversations_conversation_id_get"
    ).sync("nope", client=api)
    assert isinstance(missing, models.ErrorEnvelope) and missing.error.code == "not_found"
