"""Team workflow over HTTP: your own presence and name (PATCH /auth/me), operators'
presence and max_open, and a site's require_agent_online and reply_time in the widget.

Being online needs an open console stream, which the ASGI test transport cannot hold
open: tests/realtime/test_operator_presence.py covers it on a live server.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.expect import assert_error
from tests.api.world import api_world, quick_operator
from tests.factories import bearer, csrf, login

REPLY_TIME = "We usually reply in a few minutes"


def _me(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.patch("/api/v1/auth/me", json=body, headers=headers)


def _operators(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/operators", headers=headers)
    assert response.status_code == 200, response.text
    return {o["id"]: o for o in response.json()["operators"]}


def test_away_is_your_choice_and_everyone_sees_it(client: TestClient) -> None:
    world = api_world(client)
    agent = login(client, quick_operator(client, "agent", name="Ada"))
    mine = csrf(agent)
    assert _operators(client, world.op)[agent.id]["presence"] == "offline"

    response = _me(client, mine, presence="away")
    assert response.status_code == 200, response.text
    assert response.json()["operator"]["presence"] == "away"
    assert _operators(client, world.op)[agent.id]["presence"] == "away"
    team = client.get("/api/v1/team", headers=world.op).json()["operators"]
    for member in team:
        assert member.pop("avatar_url").startswith(f"/avatars/{member['id']}?v=")
    assert {"id": agent.id, "name": "Ada", "role": "agent", "presence": "away"} in team
    assert client.get("/api/v1/auth/me").json()["operator"]["presence"] == "away"

    # Online again: with no console stream open anywhere, that shows as offline.
    response = _me(client, mine, presence="online")
    assert response.status_code == 200, response.text
    assert response.json()["operator"]["presence"] == "offline"
    assert _operators(client, world.op)[agent.id]["presence"] == "offline"


def test_a_presence_change_leaves_the_notifications_alone(client: TestClient) -> None:
    api_world(client)
    agent = login(client, quick_operator(client, "agent"))
    assert _me(client, csrf(agent), notify_unanswered_minutes=15).status_code == 200
    response = _me(client, csrf(agent), presence="away")
    operator = response.json()["operator"]
    assert operator["notifications"] == {"unanswered_minutes": 15, "mentions": True}
    # And the other way round: null presence, name or mentions are no change.
    response = _me(client, csrf(agent), presence=None, name=None, notify_mentions=None)
    assert response.status_code == 200, response.text
    assert response.json()["operator"]["presence"] == "away"


def test_you_can_rename_yourself(client: TestClient) -> None:
    world = api_world(client)
    owner = login(client, world.owner)
    response = _me(client, csrf(owner), name="  Olga Ortiz  ")
    assert response.status_code == 200, response.text
    assert response.json()["operator"]["name"] == "Olga Ortiz"
    assert _operators(client, world.op)[owner.id]["name"] == "Olga Ortiz"
    team = client.get("/api/v1/team", headers=world.op).json()["operators"]
    assert [m["name"] for m in team if m["id"] == owner.id] == ["Olga Ortiz"]
    # Replies are signed with the new name.
    reply = client.post(
        f"/api/v1/conversations/{world.conversation['id']}/messages",
        json={"body": "Hello from Olga", "client_msg_id": "rename-1"},
        headers=csrf(owner),
    )
    assert reply.json()["author"]["name"] == "Olga Ortiz"
    entries = client.get("/api/v1/audit-log", params={"action": "operator.update"}).json()
    assert entries["entries"][0]["details"] == {"name": "Olga Ortiz"}
    assert entries["entries"][0]["target_id"] == owner.id


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": " " + "x" * 101 + " "},
        {"name": 7},
        {"name": "Nul\x00"},
        {"presence": "offline"},
        {"presence": "busy"},
        {"presence": True},
        {"nickname": "Ada"},
    ],
)
def test_bad_profile_changes_are_422(client: TestClient, body: dict[str, Any]) -> None:
    api_world(client)
    agent = login(client, quick_operator(client, "agent", name="Ada"))
    error = assert_error(_me(client, csrf(agent), **body), 422, "validation_error")
    field = next(iter(body))
    assert [d["loc"] for d in error["details"]] == [["body", field]], error
    me = client.get("/api/v1/auth/me").json()["operator"]
    assert (me["name"], me["presence"]) == ("Ada", "offline")  # nothing changed


def test_the_name_error_says_what_is_allowed(client: TestClient) -> None:
    api_world(client)
    agent = login(client, quick_operator(client, "agent"))
    error = assert_error(_me(client, csrf(agent), name=" "), 422, "validation_error")
    assert "1 to 100 characters" in error["details"][0]["msg"]
    # 100 characters once trimmed is fine.
    assert _me(client, csrf(agent), name=" " + "y" * 100 + " ").status_code == 200


def test_a_bot_token_has_no_presence_to_set(client: TestClient) -> None:
    world = api_world(client)
    bot = client.post(
        "/api/v1/api-tokens",
        json={"name": "Helper", "role": "bot", "site_id": world.site["id"]},
        headers=world.op,
    ).json()["token"]
    response = client.patch("/api/v1/auth/me", json={"presence": "away"}, headers=bearer(bot))
    assert_error(response, 403, "forbidden")


def test_admins_set_max_open(client: TestClient) -> None:
    world = api_world(client)
    agent = quick_operator(client, "agent")
    assert _operators(client, world.op)[agent.id]["max_open"] is None
    path = f"/api/v1/operators/{agent.id}"
    response = client.patch(path, json={"max_open": 5}, headers=world.op)
    assert response.status_code == 200, response.text
    assert (response.json()["max_open"], response.json()["presence"]) == (5, "offline")
    assert _operators(client, world.op)[agent.id]["max_open"] == 5
    # Other changes keep it; null clears it.
    assert client.patch(path, json={"name": "Bo"}, headers=world.op).json()["max_open"] == 5
    assert client.patch(path, json={"max_open": None}, headers=world.op).json()["max_open"] is None
    for bad in (0, -1, 1001, "3", 2.5):
        assert_error(
            client.patch(path, json={"max_open": bad}, headers=world.op), 422, "validation_error"
        )
    made = client.post(
        "/api/v1/operators",
        json={
            "email": "capped@example.com",
            "name": "Capped",
            "role": "agent",
            "password": "a-long-enough-password",
            "max_open": 3,
        },
        headers=world.op,
    )
    assert made.status_code == 201, made.text
    assert (made.json()["max_open"], made.json()["presence"]) == (3, "offline")


def test_agents_cannot_set_max_open(client: TestClient) -> None:
    api_world(client)
    agent = login(client, quick_operator(client, "agent"))
    response = client.patch(
        f"/api/v1/operators/{agent.id}", json={"max_open": 2}, headers=csrf(agent)
    )
    assert_error(response, 403, "forbidden")


def _config(client: TestClient, site_key: str) -> dict[str, Any]:
    response = client.get("/api/v1/widget/config", params={"site_key": site_key})
    assert response.status_code == 200, response.text
    site: dict[str, Any] = response.json()["site"]
    return site


def test_site_settings_for_presence_and_the_reply_time(client: TestClient) -> None:
    world = api_world(client)
    site = world.site
    assert (site["require_agent_online"], site["reply_time"]) == (False, REPLY_TIME)
    assert _config(client, site["site_key"])["reply_time"] == REPLY_TIME
    response = client.patch(
        f"/api/v1/sites/{site['id']}",
        json={"require_agent_online": True, "reply_time": "  Replies within a day  "},
        headers=world.op,
    )
    assert response.status_code == 200, response.text
    assert response.json()["require_agent_online"] is True
    assert response.json()["reply_time"] == "Replies within a day"
    assert _config(client, site["site_key"])["reply_time"] == "Replies within a day"
    made = client.post(
        "/api/v1/sites",
        json={"name": "Second", "require_agent_online": True, "reply_time": ""},
        headers=world.op,
    )
    assert made.status_code == 201, made.text
    assert (made.json()["require_agent_online"], made.json()["reply_time"]) == (True, "")
    for bad in ({"reply_time": "x" * 201}, {"reply_time": 5}, {"require_agent_online": "yes"}):
        response = client.patch(f"/api/v1/sites/{site['id']}", json=bad, headers=world.op)
        assert_error(response, 422, "validation_error")


def test_the_widget_is_offline_when_the_site_requires_someone_online(client: TestClient) -> None:
    world = api_world(client)
    key = world.site["site_key"]
    assert _config(client, key)["online"] is True  # nobody online, and the site does not mind
    client.patch(
        f"/api/v1/sites/{world.site['id']}", json={"require_agent_online": True}, headers=world.op
    )
    assert _config(client, key)["online"] is False
    # Outside business hours it stays offline too (both must hold).
    closed = {"timezone": "UTC", "days": {}}
    client.patch(
        f"/api/v1/sites/{world.site['id']}", json={"business_hours": closed}, headers=world.op
    )
    assert _config(client, key)["online"] is False
    client.patch(
        f"/api/v1/sites/{world.site['id']}",
        json={"require_agent_online": False, "business_hours": None},
        headers=world.op,
    )
    assert _config(client, key)["online"] is True
