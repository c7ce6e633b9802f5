"""The operator API for conversations: list filters, cursor pages, changes, history, notes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.api.expect import assert_error, send_visitor
from tests.api.world import ApiWorld, api_world, new_site, quick_operator
from tests.factories import services_db, start_conversation, visitor_token


def _visitor_with_conversation(
    world: ApiWorld, body: str, site_key: str | None = None, **profile: Any
) -> tuple[str, str]:
    token = visitor_token(world.client, site_key or world.site["site_key"], **profile)
    started = start_conversation(world.client, token, body=body)
    return token, started["conversation"]["id"]


def _ids(client: TestClient, headers: dict[str, str], query: str = "") -> list[str]:
    response = client.get(f"/api/v1/conversations?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["conversations"]]


def test_get_one_conversation_with_its_visitor(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op)
    assert got.status_code == 200
    body = got.json()
    for field in ("id", "site_id", "status", "assignee_id", "labels", "created_at"):
        assert field in body
    assert body["updated_at"].endswith("Z") and body["last_message_at"].endswith("Z")
    assert body["site_id"] == world.site["id"]
    assert body["visitor"]["name"] == "Vera Visitor"
    assert body["status"] == "open" and body["assignee_id"] is None and body["labels"] == []


def test_patch_status_assignee_labels(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    agent = quick_operator(client, "agent")  # joins every existing site by default

    def patch(body: dict[str, Any]) -> Any:
        return client.patch(f"/api/v1/conversations/{cid}", json=body, headers=world.op)

    changed = patch({"status": "pending", "assignee_id": agent.id, "labels": ["VIP ", "billing"]})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["status"] == "pending"
    assert body["assignee_id"] == agent.id
    assert body["labels"] == ["billing", "vip"]  # normalised, sorted
    assert patch({}).json()["labels"] == ["billing", "vip"]  # nothing changes
    assert patch({"labels": []}).json()["labels"] == []
    assert patch({"assignee_id": None}).json()["assignee_id"] is None
    assert patch({"status": "resolved"}).json()["status"] == "resolved"
    labels = client.get("/api/v1/labels", headers=world.op).json()["labels"]
    assert labels == ["billing", "vip"]
    for bad in (
        {"status": "closed"},
        {"status": 1},
        {"assignee_id": ""},
        {"assignee_id": "x" * 33},
        {"labels": "vip"},
        {"labels": [""]},
        {"labels": ["l" * 51]},
        {"labels": ["<script>"]},
        {"labels": [f"l{i}" for i in range(21)]},
        {"labels": [1]},
    ):
        assert_error(patch(bad), 422, "validation_error")
    # The assignee must exist, be active and belong to the site.
    for assignee in ("01unknownoperatorid00000000", world.owner.id + "x"):
        error = assert_error(patch({"assignee_id": assignee}), 422, "validation_error")
        assert error["details"] == {"field": "assignee_id"}
    outsider = quick_operator(client, "agent", site_ids=[])
    assert_error(patch({"assignee_id": outsider.id}), 422, "validation_error")
    assert (
        client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()["assignee_id"] is None
    )


def test_mark_read(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    send_visitor(client, world.visitor_token, cid, "still there?")
    got = client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()
    assert got["unread_count"] == 2
    read = client.post(f"/api/v1/conversations/{cid}/read", headers=world.op)
    assert read.status_code == 200 and read.json()["unread_count"] == 0
    assert client.get(f"/api/v1/conversations/{cid}", headers=world.op).json()["unread_count"] == 0
    again = client.post(f"/api/v1/conversations/{cid}/read", headers=world.op)
    assert again.json()["unread_count"] == 0


def test_team_and_labels(client: TestClient) -> None:
    world = api_world(client)
    agent = quick_operator(client, "agent", name="Zed Agent")
    team = client.get("/api/v1/team", headers=world.op).json()["operators"]
    faces = {member["id"]: member.pop("avatar_url") for member in team}
    assert {"id": agent.id, "name": "Zed Agent", "role": "agent", "presence": "offline"} in team
    assert all(set(member) == {"id", "name", "role", "presence"} for member in team)
    assert faces[agent.id].startswith(f"/avatars/{agent.id}?v=")  # initials until a picture
    assert client.get("/api/v1/labels", headers=world.op).json() == {"labels": []}


def test_list_filters(client: TestClient) -> None:
    world = api_world(client)
    op = world.op
    first = world.conversation["id"]  # "Vera Visitor", body "Hello"
    _t2, percent = _visitor_with_conversation(
        world, "Is 100% cotton?", name="Pat", email="pat@x.io"
    )
    _t3, underscore = _visitor_with_conversation(world, "order_id 42", name="Sam_Smith")
    _t4, plain = _visitor_with_conversation(world, "Where is my parcel", email="kim@mail.example")
    second_site = new_site(client, op, name="Second")
    _t5, elsewhere = _visitor_with_conversation(
        world, "other site", site_key=second_site["site_key"]
    )
    agent = quick_operator(client, "agent")

    client.patch(f"/api/v1/conversations/{percent}", json={"status": "pending"}, headers=op)
    client.patch(f"/api/v1/conversations/{underscore}", json={"status": "resolved"}, headers=op)
    client.patch(
        f"/api/v1/conversations/{plain}",
        json={"assignee_id": agent.id, "labels": ["Shipping"]},
        headers=op,
    )
    client.patch(f"/api/v1/conversations/{first}", json={"assignee_id": world.owner.id}, headers=op)

    everything = _ids(client, op)
    assert everything == [elsewhere, plain, underscore, percent, first]
    assert _ids(client, op, "status=open") == [elsewhere, plain, first]
    assert _ids(client, op, "status=pending") == [percent]
    assert _ids(client, op, "status=resolved") == [underscore]
    assert _ids(client, op, "assignee=me") == [first]
    assert _ids(client, op, "assignee=unassigned") == [elsewhere, underscore, percent]
    assert _ids(client, op, f"assignee={agent.id}") == [plain]
    assert _ids(client, op, "assignee=nobody-like-this") == []
    assert _ids(client, op, f"site_id={second_site['id']}") == [elsewhere]
    assert _ids(client, op, f"site_id={world.site['id']}&status=open") == [plain, first]
    assert _ids(client, op, "site_id=unknown") == []
    assert _ids(client, op, "label=shipping") == [plain]
    assert _ids(client, op, "label=SHIPPING") == [plain]
    assert _ids(client, op, "label=none") == []
    # Text search (full text, tests/api/test_search.py): visitor name, email and message
    # bodies, by words, case-insensitive, across every status unless one is given.
    assert _ids(client, op, "q=vera") == [first]
    assert _ids(client, op, "q=PAT%40X") == [percent]
    assert _ids(client, op, "q=mail.example") == [plain]
    assert _ids(client, op, "q=parcel") == [plain]
    assert _ids(client, op, "q=100%25") == [percent]
    assert _ids(client, op, "q=Sam_Smith") == [underscore]
    assert _ids(client, op, "q=order_id") == [underscore]  # resolved, still found
    assert _ids(client, op, "q=' OR 1=1 --") == []
    assert _ids(client, op, "q=") == everything
    assert _ids(client, op, "q=parcel&status=resolved") == []
    for nothing_to_find in ("%25", "_", "%5C"):
        response = client.get(f"/api/v1/conversations?q={nothing_to_find}", headers=op)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == "q"


def test_cursor_pagination_walks_every_conversation_once(client: TestClient) -> None:
    world = api_world(client)
    created = [world.conversation["id"]]
    for index in range(11):
        created.append(_visitor_with_conversation(world, f"question {index}")[1])
    # New activity moves a conversation to the front.
    send_visitor(client, world.visitor_token, created[0], "bump")
    expected = [created[0], *reversed(created[1:])]

    seen: list[str] = []
    stamps: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=5" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/api/v1/conversations?{query}", headers=world.op)
        assert response.status_code == 200
        page = response.json()
        assert len(page["conversations"]) <= 5
        seen += [c["id"] for c in page["conversations"]]
        stamps += [c["last_message_at"] for c in page["conversations"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == expected
    assert len(set(seen)) == len(seen)
    assert stamps == sorted(stamps, reverse=True)
    # An exact multiple of the page size ends without an empty extra page.
    first_page = client.get("/api/v1/conversations?limit=12", headers=world.op).json()
    assert first_page["next_cursor"] is None and len(first_page["conversations"]) == 12


def test_bad_cursors_are_validation_errors(client: TestClient) -> None:
    world = api_world(client)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    for cursor in (
        "garbage",
        "!!!!",
        "é",
        b64(b"not json"),
        b64(b"[]"),
        b64(b"[1, 2, 3]"),
        b64(json.dumps(["not a date", "id"]).encode()),
        b64(json.dumps({"a": 1}).encode()),
        b64(b"42"),
        b64(json.dumps([12, "id"]).encode()),
        b64(b"\xff\xfe"),
        "x" * 301,
    ):
        response = client.get("/api/v1/conversations", params={"cursor": cursor}, headers=world.op)
        assert_error(response, 422, "validation_error")


def test_history_paging_with_before_and_limit(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    for index in range(9):
        assert send_visitor(client, world.visitor_token, cid, f"m{index}").status_code == 201
    everything = client.get(f"/api/v1/conversations/{cid}/messages", headers=world.op).json()
    bodies = [m["body"] for m in everything["messages"]]
    assert bodies == ["Hello"] + [f"m{i}" for i in range(9)]  # oldest first

    collected: list[dict[str, Any]] = []
    before = None
    while True:
        query = "limit=4" + (f"&before={before}" if before else "")
        page = client.get(
            f"/api/v1/widget/conversations/{cid}/messages?{query}", headers=world.visitor
        ).json()["messages"]
        if not page:
            break
        assert len(page) <= 4
        collected = page + collected
        before = page[0]["id"]
    assert [m["body"] for m in collected] == bodies
    assert len({m["id"] for m in collected}) == len(collected)
    one = client.get(f"/api/v1/conversations/{cid}/messages?limit=1", headers=world.op).json()
    assert [m["body"] for m in one["messages"]] == ["m8"]
    unknown_before = client.get(
        f"/api/v1/conversations/{cid}/messages?before=zzzz", headers=world.op
    )
    assert unknown_before.status_code == 200


def test_private_notes_are_for_operators_only(client: TestClient) -> None:
    world = api_world(client)
    cid = world.conversation["id"]
    reply = client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"body": "Happy to help", "client_msg_id": "r1"},
        headers=world.op,
    )
    assert reply.status_code == 201
    message = reply.json()
    assert set(message) >= {
        "id",
        "conversation_id",
        "author",
        "body",
        "private",
        "client_msg_id",
        "created_at",
    }
    assert message["author"]["type"] == "operator" and message["author"]["id"] == world.owner.id
    assert message["private"] is False and message["client_msg_id"] == "r1"
    note = client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"body": "Refund approved internally", "client_msg_id": "n1", "private": True},
        headers=world.op,
    )
    assert note.status_code == 201 and note.json()["private"] is True
    bad = client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"body": "x", "client_msg_id": "n2", "private": "yes please"},
        headers=world.op,
    )
    assert_error(bad, 422, "validation_error")

    operator_view = client.get(f"/api/v1/conversations/{cid}/messages", headers=world.op).json()
    # The reply assigned the conversation (the site assigns on reply): a timeline entry,
    # private like the note.
    timeline = [m for m in operator_view["messages"] if m["author"]["type"] == "system"]
    assert [(m["kind"], m["private"]) for m in timeline] == [("assigned", True)]
    assert [m["body"] for m in operator_view["messages"] if m not in timeline] == [
        "Hello",
        "Happy to help",
        "Refund approved internally",
    ]
    visitor_view = client.get(f"/api/v1/widget/conversations/{cid}/messages", headers=world.visitor)
    assert [m["body"] for m in visitor_view.json()["messages"]] == ["Hello", "Happy to help"]
    assert "Refund approved" not in visitor_view.text
    events = client.get("/api/v1/widget/events?after=0&wait=0", headers=world.visitor)
    assert "Refund approved" not in events.text
    operator_events = client.get("/api/v1/events?after=0&wait=0", headers=world.op)
    assert "Refund approved internally" in operator_events.text
    # A note does not count as the conversation's last message.
    listed = client.get("/api/v1/conversations", headers=world.op).json()["conversations"]
    assert listed[0]["last_message"]["preview"] == "Happy to help"
    widget_list = client.get("/api/v1/widget/conversations", headers=world.visitor)
    assert "Refund approved" not in widget_list.text
    typing = client.post(
        f"/api/v1/conversations/{cid}/typing", json={"private": True}, headers=world.op
    )
    assert typing.status_code == 204


@contextmanager
def _count_statements(client: TestClient) -> Iterator[list[str]]:
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


def test_hot_paths_use_a_constant_number_of_statements(settings: Settings) -> None:
    # The hub's slow poll of the event log shares the read engine; slow it right down so
    # only the requests' own statements are counted.
    quiet = settings.model_copy(update={"event_poll_seconds": 3600.0})
    with TestClient(create_app(quiet)) as client:
        _hot_paths(client)


def _hot_paths(client: TestClient) -> None:
    world = api_world(client)
    agent = quick_operator(client, "agent")
    headers = world.op

    def measure(path: str) -> int:
        client.get(path, headers=headers)  # warm the pool
        counts = []
        # The fewest of three: background work (the outbox's worker reading new events)
        # shares the read engine and may slip into one window; an N+1 is in all three.
        for _ in range(3):
            with _count_statements(client) as statements:
                response = client.get(path, headers=headers)
            assert response.status_code == 200, response.text
            counts.append(len(statements))
        return min(counts)

    def conversation_list_cost() -> int:
        return measure("/api/v1/conversations?limit=100")

    small = conversation_list_cost()
    tokens = []
    for index in range(29):
        token, cid = _visitor_with_conversation(world, f"hello {index}", name=f"V{index}")
        tokens.append(token)
        client.patch(
            f"/api/v1/conversations/{cid}",
            json={"labels": [f"l{index % 3}", "all"], "assignee_id": agent.id},
            headers=world.op,
        )
    assert (
        len(client.get("/api/v1/conversations?limit=100", headers=world.op).json()["conversations"])
        == 30
    )
    large = conversation_list_cost()
    assert large == small, (small, large)
    assert large <= 6

    cid = world.conversation["id"]
    history_small = measure(f"/api/v1/conversations/{cid}/messages")
    for index in range(30):
        send_visitor(client, world.visitor_token, cid, f"msg {index}")
    assert measure(f"/api/v1/conversations/{cid}/messages") == history_small

    events_cost = measure("/api/v1/events?after=0&wait=0")
    assert events_cost <= 6
