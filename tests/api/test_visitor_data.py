"""A visitor's data on their request: the export of everything stored about them, and
erasure with their conversations, messages, files and events. On both file stores."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.api.test_attachments import photo, settings, stored_files, upload  # noqa: F401
from tests.api.world import ApiWorld, api_world, quick_operator
from tests.email.conftest import failed_email
from tests.factories import login, services_db, start_conversation, visitor_token


@pytest.fixture
def world(client: TestClient) -> ApiWorld:
    return api_world(client)


def _visitor_id(world: ApiWorld) -> str:
    return str(world.conversation["visitor_id"])


def _with_a_file_a_note_and_a_block(client: TestClient, world: ApiWorld) -> dict[str, Any]:
    cid = world.conversation["id"]
    file = upload(
        client,
        f"/api/v1/widget/conversations/{cid}/attachments",
        world.visitor,
        photo(),
        "me.jpg",
        "image/jpeg",
    ).json()
    sent = client.post(
        f"/api/v1/widget/conversations/{cid}/messages",
        json={"body": "my photo", "client_msg_id": "v-photo", "attachment_ids": [file["id"]]},
        headers=world.visitor,
    )
    assert sent.status_code == 201, sent.text
    note = {"body": "Asked twice about the refund", "client_msg_id": "n-1", "private": True}
    assert (
        client.post(f"/api/v1/conversations/{cid}/messages", json=note, headers=world.op)
    ).status_code == 201
    block = {"visitor_id": _visitor_id(world), "duration_seconds": 60, "reason": "Spam"}
    assert client.post("/api/v1/blocks", json=block, headers=world.op).status_code == 201
    assert client.patch(
        "/api/v1/widget/visitor", json={"email": "vera@example.com"}, headers=world.visitor
    ).status_code in (200, 403)  # blocked visitors may not change their profile
    return file


def test_the_export_holds_everything_stored_about_the_visitor(
    client: TestClient, world: ApiWorld
) -> None:
    file = _with_a_file_a_note_and_a_block(client, world)
    response = client.get(f"/api/v1/visitors/{_visitor_id(world)}/export", headers=world.op)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment;")
    exported = response.json()
    assert exported["visitor"]["id"] == _visitor_id(world)
    assert exported["visitor"]["name"] == "Vera Visitor"
    assert exported["visitor"]["blocked_until"]
    assert "last_ip" in exported["visitor"]
    assert len(exported["sessions"]) == 1
    [conversation] = exported["conversations"]
    bodies = [m["body"] for m in conversation["messages"] if not m.get("kind")]
    assert bodies == ["Hello", "my photo", "Asked twice about the refund"]
    [with_file] = [m for m in conversation["messages"] if m["attachments"]]
    assert with_file["attachments"][0]["id"] == file["id"]
    assert client.get(with_file["attachments"][0]["url"]).status_code == 200
    assert [b["reason"] for b in exported["blocks"]] == ["Spam"]


def test_erasure_takes_the_visitor_with_everything_they_left(
    client: TestClient,
    world: ApiWorld,
    settings: Settings,  # noqa: F811
) -> None:
    file = _with_a_file_a_note_and_a_block(client, world)
    # Another visitor of the same site stays whole.
    other_token = visitor_token(client, world.site["site_key"], name="Otto Other")
    other = start_conversation(client, other_token, "Still here")["conversation"]
    assert len(stored_files(settings)) == 2  # the photo and its thumbnail
    cid = world.conversation["id"]
    # Email jobs about each conversation (failed, so they wait in the outbox to be seen).
    failed_email(services_db(client), {"template": "transcript", "conversation_id": cid})
    failed_email(services_db(client), {"template": "transcript", "conversation_id": other["id"]})
    visitor_id = _visitor_id(world)
    stored_messages = len(
        client.get(f"/api/v1/conversations/{cid}/messages", headers=world.op).json()["messages"]
    )

    response = client.delete(f"/api/v1/visitors/{visitor_id}", headers=world.op)
    assert response.status_code == 204, response.text

    assert_error(client.get(f"/api/v1/conversations/{cid}", headers=world.op), 404, "not_found")
    assert client.get("/api/v1/widget/visitor", headers=world.visitor).status_code == 401
    assert stored_files(settings) == []
    assert client.get(file["url"]).status_code == 404
    events = client.get("/api/v1/events?after=0&wait=0&limit=500", headers=world.op).json()
    assert cid not in str(events) and "Vera Visitor" not in str(events)
    assert other["id"] in str(events)
    jobs = client.get("/api/v1/emails?status=failed", headers=world.op).json()["emails"]
    assert [job["conversation_id"] for job in jobs] == [other["id"]]
    kept = client.get(f"/api/v1/conversations/{other['id']}/messages", headers=world.op)
    assert [m["body"] for m in kept.json()["messages"]] == ["Still here"]
    # The block stays (it guards against what was done), without the visitor.
    blocks = client.get("/api/v1/blocks?include_ended=true", headers=world.op).json()["blocks"]
    assert [b["reason"] for b in blocks] == ["Spam"]
    assert blocks[0]["visitor_id"] is None

    # Audit-logged by counts, naming nobody.
    login(client, world.owner)  # the audit log is the owner's (tokens are never owners)
    log = client.get("/api/v1/audit-log?action=visitor.erase")
    [entry] = log.json()["entries"]
    assert entry["target_id"] == visitor_id
    assert entry["details"] == {
        "site_id": world.site["id"],
        "conversations": 1,
        "messages": stored_messages,
        "attachments": 1,
    }
    assert "Vera" not in log.text
    assert_error(
        client.delete(f"/api/v1/visitors/{visitor_id}", headers=world.op), 404, "not_found"
    )


def test_only_admins_of_the_visitors_site_reach_their_data(
    client: TestClient, world: ApiWorld
) -> None:
    visitor_id = _visitor_id(world)
    assert (
        client.get(f"/api/v1/visitors/{visitor_id}/export", headers=world.visitor).status_code
        == 401
    )
    assert client.delete(f"/api/v1/visitors/{visitor_id}", headers=world.visitor).status_code == 401
    assert_error(
        client.get(f"/api/v1/visitors/{'0' * 26}/export", headers=world.op), 404, "not_found"
    )
    agent = quick_operator(client, "agent", name="Agent Of This Site", site_ids=[world.site["id"]])
    login(client, agent)
    assert_error(client.get(f"/api/v1/visitors/{visitor_id}/export"), 403, "forbidden")
    assert_error(client.delete(f"/api/v1/visitors/{visitor_id}"), 403, "forbidden")
