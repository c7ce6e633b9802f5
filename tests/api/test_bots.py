"""Bots on the API: a bot-role token limited to its site, posting as a named bot, handing
over to the team; and examples/faq_bot.py run end to end against a live server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from chatdesk.settings import Settings
from tests.conftest import LiveServer
from tests.factories import (
    add_operator,
    bearer,
    create_site,
    csrf,
    login,
    services_db,
    start_conversation,
    visitor_token,
)

BOT = Path(__file__).resolve().parents[2] / "examples" / "faq_bot.py"


def bot_token(http: Any, admin: Any, site_id: str, name: str = "FAQ bot") -> dict[str, Any]:
    made = http.post(
        "/api/v1/api-tokens",
        json={"name": name, "role": "bot", "site_id": site_id},
        headers=csrf(admin),
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    assert body["role"] == "bot" and body["site_id"] == site_id
    return body


def test_a_bot_token_acts_on_its_site_only(client: TestClient) -> None:
    owner = login(client, add_operator(services_db(client), "owner"))
    site1 = create_site(client, owner, name="One")
    site2 = create_site(client, owner, name="Two")
    # A bot token needs its site; other roles take none.
    for body in (
        {"name": "b", "role": "bot"},
        {"name": "a", "role": "agent", "site_id": site1["id"]},
    ):
        refused = client.post("/api/v1/api-tokens", json=body, headers=csrf(owner))
        assert refused.status_code == 422, refused.text
    missing = client.post(
        "/api/v1/api-tokens",
        json={"name": "b", "role": "bot", "site_id": "01" + "z" * 24},
        headers=csrf(owner),
    )
    assert missing.status_code == 404
    token = bot_token(client, owner, site1["id"])["token"]
    mine = start_conversation(client, visitor_token(client, site1["site_key"]), "Hi")[
        "conversation"
    ]
    other = start_conversation(client, visitor_token(client, site2["site_key"]), "Yo")[
        "conversation"
    ]
    client.cookies.clear()
    as_bot = bearer(token)

    listed = client.get("/api/v1/conversations", headers=as_bot).json()["conversations"]
    assert [c["id"] for c in listed] == [mine["id"]]
    assert client.get(f"/api/v1/conversations/{other['id']}", headers=as_bot).status_code == 404
    posted = client.post(
        f"/api/v1/conversations/{other['id']}/messages",
        json={"body": "x", "client_msg_id": "x1"},
        headers=as_bot,
    )
    assert posted.status_code == 404
    # Nothing an operator's account or the settings hold.
    for method, path, body in [
        ("GET", "/api/v1/sites", None),
        ("POST", "/api/v1/sites", {"name": "Mine now"}),
        ("GET", "/api/v1/operators", None),
        ("GET", "/api/v1/api-tokens", None),
        ("POST", "/api/v1/api-tokens", {"name": "n", "role": "bot", "site_id": site1["id"]}),
        ("GET", "/api/v1/audit-log", None),
        ("GET", "/api/v1/auth/me", None),
        ("PATCH", "/api/v1/auth/me", {"notify_mentions": False}),
        ("POST", "/api/v1/auth/password", {"current_password": "x", "new_password": "y" * 12}),
    ]:
        response = client.request(method, path, json=body, headers=as_bot)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden"

    answer = client.post(
        f"/api/v1/conversations/{mine['id']}/messages",
        json={"body": "Hello, I am a bot", "client_msg_id": "b1"},
        headers=as_bot,
    )
    assert answer.status_code == 201
    author = answer.json()["author"]
    assert author["type"] == "bot" and author["name"] == "FAQ bot"
    # The visitor sees who wrote it.
    head = client.get("/api/v1/events?wait=0", headers=as_bot).json()["cursor"]
    handoff = client.patch(
        f"/api/v1/conversations/{mine['id']}",
        json={"assignee_id": None, "status": "open"},
        headers=as_bot,
    )
    assert handoff.status_code == 200
    assert handoff.json()["assignee_id"] is None and handoff.json()["status"] == "open"
    events = client.get(f"/api/v1/events?after={head}&wait=0", headers=as_bot).json()["events"]
    (event,) = [e for e in events if e["type"] == "conversation.handoff"]
    assert event["data"]["by"]["type"] == "bot" and event["data"]["by"]["name"] == "FAQ bot"
    # A bot may hand it to a named person of the site, too.
    assign = client.patch(
        f"/api/v1/conversations/{mine['id']}", json={"assignee_id": owner.id}, headers=as_bot
    )
    assert assign.status_code == 200  # an owner is an operator of every site


def _wait(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_the_example_faq_bot_answers_and_hands_over(
    settings: Settings, live_server: LiveServer
) -> None:
    from chatdesk.db.runner import Database

    db = Database(settings.database_url)
    db.start()
    try:
        admin_op = add_operator(db, "admin")
    finally:
        db.stop()
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        admin = login(http, admin_op)
        site = http.post("/api/v1/sites", json={"name": "Shop"}, headers=csrf(admin)).json()
        token = bot_token(http, admin, site["id"], name="Shop helper")["token"]
        bot = subprocess.Popen(
            [
                sys.executable,
                str(BOT),
                "--url",
                live_server.url,
                "--token",
                token,
                "--stop-after",
                "60",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert bot.stdout is not None and "listening" in bot.stdout.readline()
            visitor = http.post(
                "/api/v1/widget/sessions", json={"site_key": site["site_key"]}
            ).json()["visitor_token"]
            as_visitor = bearer(visitor)
            cid = http.post(
                "/api/v1/widget/conversations",
                json={"body": "What are your opening hours?", "client_msg_id": "v1"},
                headers=as_visitor,
            ).json()["conversation"]["id"]

            def history() -> list[dict[str, Any]]:
                path = f"/api/v1/widget/conversations/{cid}/messages"
                return list(http.get(path, headers=as_visitor).json()["messages"])

            answered = _wait(lambda: [m for m in history() if m["author"]["type"] == "bot"])
            assert answered[0]["author"]["name"] == "Shop helper"
            assert "Monday to Friday" in answered[0]["body"]
            http.post(
                f"/api/v1/widget/conversations/{cid}/messages",
                json={"body": "Can I talk to a human please?", "client_msg_id": "v2"},
                headers=as_visitor,
            )
            _wait(lambda: len([m for m in history() if m["author"]["type"] == "bot"]) == 2)

            # The bot posts its reply, then hands over: the hand-over may come a moment later.
            def handed_over() -> bool:
                path = "/api/v1/widget/events?after=0&wait=0"
                events = http.get(path, headers=as_visitor).json()["events"]
                return any(e["type"] == "conversation.handoff" for e in events)

            assert _wait(handed_over)
            # Handed over: the bot stays quiet, even when it would know the answer.
            http.post(
                f"/api/v1/widget/conversations/{cid}/messages",
                json={"body": "And what about shipping?", "client_msg_id": "v3"},
                headers=as_visitor,
            )
            time.sleep(1.5)
            bots = [m for m in history() if m["author"]["type"] == "bot"]
            assert len(bots) == 2 and "person" in bots[1]["body"]
            conversation = http.get(f"/api/v1/conversations/{cid}").json()
            assert conversation["status"] == "open" and conversation["assignee_id"] is None
        finally:
            bot.terminate()
            bot.wait(10)
            if bot.stdout is not None:
                bot.stdout.close()
