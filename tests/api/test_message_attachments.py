"""Messages that carry attachments (``attachment_ids``): who may send which file, what
the message, its event and the history show, and that nothing is half written. On both
file stores, as tests/api/test_attachments.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from chatdesk.db.batch import Unit
from chatdesk.db.tables import attachments, messages
from tests.api.expect import assert_error
from tests.api.test_attachments import PDF, photo, settings, upload  # noqa: F401 (settings)
from tests.api.world import ApiWorld, api_world, new_site, quick_operator
from tests.factories import login, services_db, start_conversation, visitor_token


@pytest.fixture
def world(client: TestClient) -> ApiWorld:
    return api_world(client)


def _cid(world: ApiWorld) -> str:
    return str(world.conversation["id"])


def visitor_upload(client: TestClient, world: ApiWorld, data: bytes | None = None) -> Any:
    response = upload(
        client,
        f"/api/v1/widget/conversations/{_cid(world)}/attachments",
        world.visitor,
        data or photo(),
        "IMG_7.jpg",
        "image/jpeg",
    )
    assert response.status_code == 201, response.text
    return response.json()


def operator_upload(client: TestClient, world: ApiWorld) -> Any:
    response = upload(
        client,
        f"/api/v1/conversations/{_cid(world)}/attachments",
        world.op,
        PDF,
        "invoice.pdf",
        "application/pdf",
    )
    assert response.status_code == 201, response.text
    return response.json()


def visitor_says(
    client: TestClient, world: ApiWorld, ids: list[str], body: str = "", cmid: str = "v-1"
) -> Any:
    return client.post(
        f"/api/v1/widget/conversations/{_cid(world)}/messages",
        json={"body": body, "client_msg_id": cmid, "attachment_ids": ids},
        headers=world.visitor,
    )


def message_count(client: TestClient) -> int:
    return int(
        services_db(client).read_sync(
            lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar_one()
        )
    )


def test_a_visitor_sends_a_photo_without_text_and_everyone_sees_it_with_working_links(
    client: TestClient, world: ApiWorld
) -> None:
    head = client.get("/api/v1/events?wait=0", headers=world.op).json()["cursor"]
    file = visitor_upload(client, world)
    response = visitor_says(client, world, [file["id"]])
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["body"] == ""
    [sent] = message["attachments"]
    assert {sent["id"], sent["name"], sent["content_type"]} == {
        file["id"],
        "IMG_7.jpg",
        "image/jpeg",
    }
    image = client.get(sent["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert client.get(sent["thumbnail_url"]).status_code == 200

    # The event carries it, to the team and to the visitor.
    events = client.get(f"/api/v1/events?after={head}&wait=0", headers=world.op).json()["events"]
    created = [e for e in events if e["type"] == "message.created"]
    assert [e["data"]["message"]["attachments"][0]["id"] for e in created] == [file["id"]]
    assert client.get(created[0]["data"]["message"]["attachments"][0]["url"]).status_code == 200
    widget_events = client.get(
        "/api/v1/widget/events?after=0&wait=0", headers=world.visitor
    ).json()["events"]
    assert any(
        e["type"] == "message.created" and e["data"]["message"]["attachments"]
        for e in widget_events
    )

    # Both histories show it, with links that work.
    for path, headers in (
        (f"/api/v1/conversations/{_cid(world)}/messages", world.op),
        (f"/api/v1/widget/conversations/{_cid(world)}/messages", world.visitor),
    ):
        listed = client.get(path, headers=headers).json()["messages"]
        [with_file] = [m for m in listed if m["attachments"]]
        assert with_file["id"] == message["id"]
        assert client.get(with_file["attachments"][0]["url"]).status_code == 200
        assert all(m["attachments"] == [] for m in listed if m["id"] != message["id"])

    # The inbox's preview names the file.
    conversation = client.get(f"/api/v1/conversations/{_cid(world)}", headers=world.op).json()
    assert conversation["last_message"]["preview"] == "📎 IMG_7.jpg"


def test_a_retry_gets_the_same_message_with_its_files(client: TestClient, world: ApiWorld) -> None:
    file = visitor_upload(client, world)
    first = visitor_says(client, world, [file["id"]], "Here", cmid="again")
    again = visitor_says(client, world, [file["id"]], "Here", cmid="again")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert [a["id"] for a in again.json()["attachments"]] == [file["id"]]


def test_an_operator_sends_files_with_a_reply_in_the_order_given(
    client: TestClient, world: ApiWorld
) -> None:
    first, second = operator_upload(client, world), operator_upload(client, world)
    response = client.post(
        f"/api/v1/conversations/{_cid(world)}/messages",
        json={
            "body": "Your invoices",
            "client_msg_id": "op-1",
            "attachment_ids": [second["id"], first["id"]],
        },
        headers=world.op,
    )
    assert response.status_code == 201, response.text
    assert [a["id"] for a in response.json()["attachments"]] == [second["id"], first["id"]]
    download = client.get(response.json()["attachments"][0]["url"])
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")


def test_a_private_note_with_a_file_stays_with_the_team(
    client: TestClient, world: ApiWorld
) -> None:
    file = operator_upload(client, world)
    note = client.post(
        f"/api/v1/conversations/{_cid(world)}/messages",
        json={"body": "", "client_msg_id": "n-1", "attachment_ids": [file["id"]], "private": True},
        headers=world.op,
    )
    assert note.status_code == 201, note.text
    seen = client.get(
        f"/api/v1/widget/conversations/{_cid(world)}/messages", headers=world.visitor
    ).json()["messages"]
    assert all(not m["attachments"] for m in seen)
    events = client.get("/api/v1/widget/events?after=0&wait=0", headers=world.visitor).json()
    assert file["id"] not in str(events)


def test_an_empty_message_without_files_is_refused(client: TestClient, world: ApiWorld) -> None:
    before = message_count(client)
    for body in ("", "   "):
        assert_error(visitor_says(client, world, [], body), 422, "validation_error")
    assert message_count(client) == before


def test_at_most_ten_files_go_with_one_message(client: TestClient, world: ApiWorld) -> None:
    file = visitor_upload(client, world)
    response = visitor_says(client, world, [file["id"]] * 11)
    assert_error(response, 422, "validation_error")


def _make_older(unit: Unit, attachment_id: str, hours: int) -> None:
    unit.conn.execute(
        update(attachments)
        .where(attachments.c.id == attachment_id)
        .values(created_at=unit.now - timedelta(hours=hours))
    )


def _age(client: TestClient, attachment_id: str, hours: int) -> None:
    services_db(client).write_sync(_make_older, attachment_id, hours)


def test_only_ones_own_unsent_recent_files_of_this_conversation_go_with_a_message(
    client: TestClient, world: ApiWorld
) -> None:
    # Another visitor of the same site, with a file in their own conversation.
    other_token = visitor_token(client, world.site["site_key"])
    other_conversation = start_conversation(client, other_token, "Hello")["conversation"]
    theirs = upload(
        client,
        f"/api/v1/widget/conversations/{other_conversation['id']}/attachments",
        {"Authorization": f"Bearer {other_token}"},
        photo(),
        "theirs.jpg",
        "image/jpeg",
    ).json()
    team_file = operator_upload(client, world)
    sent = visitor_upload(client, world)
    assert visitor_says(client, world, [sent["id"]], cmid="first").status_code == 201
    stale = visitor_upload(client, world)
    _age(client, stale["id"], 13)
    mine = visitor_upload(client, world)
    before = message_count(client)
    refused = {
        "another conversation's": [theirs["id"]],
        "the team's": [team_file["id"]],
        "already sent": [sent["id"]],
        "13 hours old": [stale["id"]],
        "unknown": ["0" * 26],
        "twice": [mine["id"], mine["id"]],
        "a good one beside a bad one": [mine["id"], theirs["id"]],
    }
    answers = {}
    for reason, ids in refused.items():
        response = visitor_says(client, world, ids, "with a file", cmid=f"bad-{len(answers)}")
        assert_error(response, 422, "validation_error")
        answers[reason] = response.json()["error"]["message"]
    # One answer for every reason: nothing is told of other conversations' files.
    assert len(set(answers.values()) - {answers["twice"]}) == 1
    assert message_count(client) == before
    # Nothing was half done: the good file is still free to send.
    assert visitor_says(client, world, [mine["id"]], cmid="good").status_code == 201


def test_a_visitors_files_are_listed_for_the_team_of_their_site_only(
    client: TestClient, world: ApiWorld
) -> None:
    file = visitor_upload(client, world)
    unsent = visitor_upload(client, world)
    visitor_says(client, world, [file["id"]])
    team_file = operator_upload(client, world)
    client.post(
        f"/api/v1/conversations/{_cid(world)}/messages",
        json={"body": "label", "client_msg_id": "op-9", "attachment_ids": [team_file["id"]]},
        headers=world.op,
    )
    visitor_id = world.conversation["visitor_id"]
    listed = client.get(f"/api/v1/visitors/{visitor_id}/attachments", headers=world.op)
    assert listed.status_code == 200, listed.text
    files = listed.json()["attachments"]
    assert [f["id"] for f in files] == [team_file["id"], file["id"]]  # newest first, sent only
    assert unsent["id"] not in {f["id"] for f in files}
    assert files[1]["conversation_id"] == _cid(world) and files[1]["message_id"]
    assert client.get(files[1]["url"]).status_code == 200
    limited = client.get(f"/api/v1/visitors/{visitor_id}/attachments?limit=1", headers=world.op)
    assert [f["id"] for f in limited.json()["attachments"]] == [team_file["id"]]
    # A visitor, and an agent of other sites, get nothing.
    assert (
        client.get(f"/api/v1/visitors/{visitor_id}/attachments", headers=world.visitor).status_code
        == 401
    )
    assert_error(
        client.get(f"/api/v1/visitors/{visitor_id}/attachments?limit=0", headers=world.op),
        422,
        "validation_error",
    )
    elsewhere = new_site(client, world.op, name="Other shop")
    agent = quick_operator(client, "agent", name="Other Agent", site_ids=[elsewhere["id"]])
    login(client, agent)  # a session cookie
    assert_error(client.get(f"/api/v1/visitors/{visitor_id}/attachments"), 404, "not_found")
