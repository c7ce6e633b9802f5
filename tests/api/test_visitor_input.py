"""Input and identity: checked page URLs and time zones, claims of the right JSON type,
identity tokens accepted once when a site asks, verified names kept, idle tokens expired."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from chatdesk.app import create_app
from chatdesk.db.tables import identity_token_uses
from chatdesk.settings import Settings
from tests.api.expect import assert_error, send_visitor
from tests.api.world import ApiWorld, api_world, new_site
from tests.factories import FakeClock, bearer, services_db, start_conversation, visitor_token

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _secret(world: ApiWorld) -> str:
    site = world.client.get(f"/api/v1/sites/{world.site['id']}", headers=world.op).json()
    secret: str = site["identity_secret"]
    return secret


def _identity(world: ApiWorld, **claims: Any) -> str:
    return jwt.encode(claims, _secret(world), algorithm="HS256")


def _session(world: ApiWorld, identity_token: str | None = None, **profile: Any) -> Any:
    body: dict[str, Any] = {"site_key": world.site["site_key"], **profile}
    if identity_token is not None:
        body["identity_token"] = identity_token
    return world.client.post("/api/v1/widget/sessions", json=body)


# -- page URL and time zone ------------------------------------------------------------------

BAD_PAGE_URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://shop.example.com/file",
    "https://",
    "/cart",
    "//evil.example/x",
    "https://shop.example.com/a b",
    "https://shop.example.com/\nSet-Cookie: x",
    "https://shop.example.com/" + "a" * 2000,
]
BAD_ZONES = ["Not/AZone", "../../etc/passwd", "/etc/localtime", "Europe/../UTC", "Mars/Olympus", ""]


def test_page_url_must_be_http_and_time_zone_an_iana_name(client: TestClient) -> None:
    world = api_world(client)
    for field, values in (("page_url", BAD_PAGE_URLS), ("timezone", BAD_ZONES)):
        for value in values:
            created = _session(world, **{field: value})
            error = assert_error(created, 422, "validation_error")
            assert error["details"][0]["loc"] == ["body", field], (value, error)
            patched = client.patch(
                "/api/v1/widget/visitor", json={field: value}, headers=world.visitor
            )
            assert_error(patched, 422, "validation_error")
    good = {
        "page_url": "https://shop.example.com/cart?item=7#top",
        "timezone": "America/Argentina/Buenos_Aires",
    }
    token = _session(world, **good).json()["visitor_token"]
    conversation = start_conversation(client, token)["conversation"]
    seen = client.get(f"/api/v1/conversations/{conversation['id']}", headers=world.op).json()
    assert {k: seen["visitor"][k] for k in good} == good
    patched = client.patch(
        "/api/v1/widget/visitor",
        json={"page_url": "http://shop.example.com/", "timezone": "UTC"},
        headers=bearer(token),
    )
    assert patched.status_code == 200, patched.text
    # What a browser reports when it cannot tell its zone means "no time zone".
    unknown = _session(world, timezone="Etc/Unknown")
    assert unknown.status_code == 201, unknown.text


# -- identity claims -------------------------------------------------------------------------


def test_identity_claims_of_the_wrong_type_are_403_never_500(client: TestClient) -> None:
    world = api_world(client)
    now = int(time.time())
    cases = {
        "exp": {"sub": "u-1", "exp": "9999999999"},
        "nbf": {"sub": "u-1", "exp": now + 600, "nbf": str(now - 10)},
        "iat": {"sub": "u-1", "exp": now + 600, "iat": str(now)},
        "jti": {"sub": "u-1", "exp": now + 600, "jti": 12345},
    }
    for claim, claims in cases.items():
        response = _session(world, _identity(world, **claims))
        error = assert_error(response, 403, "forbidden")
        assert claim in error["message"], (claim, error)
    assert _session(world, _identity(world, sub="u-1", exp=now + 600)).status_code == 201


def test_replay_protection_accepts_each_identity_token_once(client: TestClient) -> None:
    world = api_world(client)
    path = f"/api/v1/sites/{world.site['id']}"
    assert client.get(path, headers=world.op).json()["identity_replay_protection"] is False
    now = int(time.time())
    token = _identity(world, sub="u-7", exp=now + 600, jti="jti-1")
    # Off (the default): one token may start several sessions, as before.
    assert [_session(world, token).status_code for _ in range(2)] == [201, 201]

    patched = client.patch(path, json={"identity_replay_protection": True}, headers=world.op)
    assert patched.status_code == 200 and patched.json()["identity_replay_protection"] is True
    first = _session(world, token)
    assert first.status_code == 201, first.text
    replayed = assert_error(_session(world, token), 403, "forbidden")
    assert "already used" in replayed["message"]
    without = assert_error(
        _session(world, _identity(world, sub="u-7", exp=now + 600)), 403, "forbidden"
    )
    assert "jti" in without["message"]
    fresh = _session(world, _identity(world, sub="u-7", exp=now + 600, jti="jti-2"))
    assert fresh.json()["visitor"]["id"] == first.json()["visitor"]["id"]
    # jti values are per site: another site's token with the same jti is its own.
    other = new_site(client, world.op, name="Other", identity_replay_protection=True)
    secret = client.get(f"/api/v1/sites/{other['id']}", headers=world.op).json()["identity_secret"]
    elsewhere = jwt.encode({"sub": "u-7", "exp": now + 600, "jti": "jti-1"}, secret)
    body = {"site_key": other["site_key"], "identity_token": elsewhere}
    assert client.post("/api/v1/widget/sessions", json=body).status_code == 201
    assert_error(client.post("/api/v1/widget/sessions", json=body), 403, "forbidden")


def test_used_jti_values_are_forgotten_once_their_token_expired(settings: Settings) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    with TestClient(create_app(settings, clock=clock)) as client:
        world = api_world(client, identity_replay_protection=True)
        start = int(clock.now.timestamp())
        old = _identity(world, sub="u-8", exp=start + 300, jti="old")
        assert _session(world, old).status_code == 201
        clock.now += timedelta(hours=1)
        later = _identity(world, sub="u-8", exp=start + 3600 + 300, jti="new")
        assert _session(world, later).status_code == 201
        kept = services_db(client).read_sync(
            lambda conn: conn.execute(select(identity_token_uses.c.jti)).scalars().all()
        )
        assert kept == ["new"]
        # The forgotten token stays refused: it has expired.
        assert_error(_session(world, old), 403, "forbidden")


def test_an_identified_visitors_name_and_email_are_the_sites(client: TestClient) -> None:
    world = api_world(client)
    now = int(time.time())
    claims = {"sub": "u-3", "exp": now + 600, "name": "Grace", "email": "g@h.io"}
    token = _session(world, _identity(world, **claims)).json()["visitor_token"]
    for change in (
        {"name": "Mallory"},
        {"email": "m@evil.example"},
        {"name": "G", "email": "x@y.z"},
    ):
        error = assert_error(
            client.patch("/api/v1/widget/visitor", json=change, headers=bearer(token)),
            422,
            "validation_error",
        )
        assert "identity token" in error["message"]
        assert [d["loc"] for d in error["details"]] == [["body", f] for f in change]
    # The same values again change nothing and pass; the rest of the profile is the visitor's.
    claims_profile = ("Grace", "g@h.io")
    same = {"name": "Grace", "email": "g@h.io", "page_url": "https://shop.example.com/x"}
    patched = client.patch("/api/v1/widget/visitor", json=same, headers=bearer(token))
    assert patched.status_code == 200, patched.text
    # Nor can a new session's body rename them: name and email come from the token alone.
    again = _session(world, _identity(world, **claims), name="Mallory", email="m@evil.example")
    assert again.status_code == 201, again.text
    assert (again.json()["visitor"]["name"], again.json()["visitor"]["email"]) == claims_profile
    me = client.get("/api/v1/widget/visitor", headers=bearer(token)).json()
    assert (me["name"], me["email"]) == claims_profile
    # An anonymous visitor still names themselves.
    renamed = client.patch("/api/v1/widget/visitor", json={"name": "Ada"}, headers=world.visitor)
    assert renamed.json()["name"] == "Ada"


# -- visitor token inactivity ----------------------------------------------------------------


def test_visitor_tokens_expire_after_the_idle_period(settings: Settings) -> None:
    clock = FakeClock(START)
    configured = settings.model_copy(update={"visitor_token_idle_days": 10})
    with TestClient(create_app(configured, clock=clock)) as first:
        world = api_world(first)
        with TestClient(create_app(configured, clock=clock)) as second:

            def status(client: TestClient) -> int:
                return client.get("/api/v1/widget/conversations", headers=world.visitor).status_code

            assert status(second) == 200  # the second process caches the token (last use: day 0)
            clock.now += timedelta(days=9)
            assert status(first) == 200  # used on day 9: recorded
            clock.now += timedelta(days=9)
            # Day 18: the second process's cache says 18 days idle; the database says 9.
            assert status(second) == 200
            clock.now += timedelta(days=10, seconds=1)
            for client in (first, second):
                error = assert_error(
                    client.get("/api/v1/widget/conversations", headers=world.visitor),
                    401,
                    "unauthorized",
                )
                assert "expired" in error["message"]
            # The widget starts over with a new session.
            fresh = visitor_token(first, world.site["site_key"])
            assert first.get("/api/v1/widget/visitor", headers=bearer(fresh)).status_code == 200


@contextmanager
def _reads(client: TestClient) -> Iterator[list[str]]:
    # The reader threads' engine, and SQLite's for the event log's short reads.
    db = services_db(client)
    engines = [e for e in (db.read_engine, db.here_engine) if e is not None]
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("days_between", [0, 2])
def test_token_expiry_adds_no_read_to_the_message_path(
    settings: Settings, days_between: int
) -> None:
    clock = FakeClock(START)
    quiet = settings.model_copy(update={"event_poll_seconds": 3600.0})
    with TestClient(create_app(quiet, clock=clock)) as client:
        world = api_world(client)
        cid = world.conversation["id"]
        assert send_visitor(client, world.visitor_token, cid, "warm up").status_code == 201
        with _reads(client) as statements:
            for n in range(20):
                clock.now += timedelta(days=days_between, seconds=1)
                assert send_visitor(client, world.visitor_token, cid, f"m{n}").status_code == 201
        assert statements == []
