"""Full-text search of conversations (ADR 0025): GET /api/v1/conversations?q=.

Runs on SQLite (FTS5) and, with CHATDESK_TEST_DATABASE_URL, on PostgreSQL (tsvector).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, text

from chatdesk.db.tables import conversations
from chatdesk.queries.search import search_hits, search_matcher, search_words
from tests.api.expect import send_visitor
from tests.api.world import ApiWorld, api_world, new_site, quick_operator
from tests.factories import bearer, login, services_db, start_conversation, visitor_token


def _start(world: ApiWorld, body: str, site_key: str | None = None, **profile: Any) -> str:
    token = visitor_token(world.client, site_key or world.site["site_key"], **profile)
    conversation_id: str = start_conversation(world.client, token, body=body)["conversation"]["id"]
    return conversation_id


def _search(client: TestClient, headers: dict[str, str], query: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/conversations?{query}", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["conversations"]
    return found


def _ids(client: TestClient, headers: dict[str, str], query: str) -> list[str]:
    return [c["id"] for c in _search(client, headers, query)]


def _note(world: ApiWorld, conversation_id: str, body: str, *, private: bool = False) -> str:
    response = world.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": body, "client_msg_id": secrets.token_hex(8), "private": private},
        headers=world.op,
    )
    assert response.status_code == 201, response.text
    message_id: str = response.json()["id"]
    return message_id


def test_results_are_ranked_and_carry_a_highlighted_snippet(client: TestClient) -> None:
    world = api_world(client, locale="en")
    once = _start(world, "Hello, a question about a refund for the blue jacket I bought in May")
    thrice = _start(world, "Refund please. Refund now! Refund.")
    _start(world, "Nothing to see here")
    by_name = _start(world, "Hello", name="Ada Refund")

    found = _search(client, world.op, "q=refund")
    assert [c["id"] for c in found] == [by_name, thrice, once]
    assert "match" not in found[0]  # the visitor's name matched, no message
    match = found[1]["match"]
    assert set(match) == {"message_id", "snippet"}
    assert match["snippet"].count("<mark>Refund</mark>") == 3
    assert "<mark>refund</mark>" in found[2]["match"]["snippet"]
    # Messages are stemmed (English here): "refunded" finds "refund"; names are not.
    assert _ids(client, world.op, "q=refunded") == [thrice, once]
    # Every word must match.
    assert _ids(client, world.op, "q=refund+jacket") == [once]
    assert _ids(client, world.op, "q=refund+parrot") == []


def test_snippets_are_escaped_text_with_marks(client: TestClient) -> None:
    world = api_world(client)
    conversation_id = _start(
        world, 'Tom & Jerry said <script>alert("x")</script> about the parcel <b>now</b>'
    )
    message_id = _note(world, conversation_id, "The parcel left on Monday.")
    [found] = _search(client, world.op, "q=tom+jerry")
    snippet = found["match"]["snippet"]
    assert "<mark>Tom</mark> &amp; <mark>Jerry</mark>" in snippet
    assert "<" not in re.sub(r"</?mark>", "", snippet)  # no markup but the marks
    assert "<script>" not in snippet and "<b>" not in snippet
    # The best-ranked message is the one shown.
    [found] = _search(client, world.op, "q=monday")
    assert found["match"]["message_id"] == message_id
    assert found["match"]["snippet"].startswith("The parcel left on <mark>Monday</mark>")


def test_search_spans_every_status_unless_one_is_given(client: TestClient) -> None:
    world = api_world(client)
    resolved = _start(world, "my zeppelin ticket")
    pending = _start(world, "a zeppelin question")
    for conversation_id, status in ((resolved, "resolved"), (pending, "pending")):
        response = client.patch(
            f"/api/v1/conversations/{conversation_id}", json={"status": status}, headers=world.op
        )
        assert response.status_code == 200, response.text
    assert sorted(_ids(client, world.op, "q=zeppelin")) == sorted([resolved, pending])
    assert _ids(client, world.op, "q=zeppelin&status=resolved") == [resolved]
    assert _ids(client, world.op, "q=zeppelin&status=open,pending") == [pending]
    assert _ids(client, world.op, "q=zeppelin&status=open") == []


def test_visitor_name_and_email_are_searched(client: TestClient) -> None:
    world = api_world(client)
    ada = _start(world, "Hi", name="Ada Lovelace", email="countess@analytical.example")
    _start(world, "Hi", name="Charles Babbage", email="charles@engine.example")
    assert _ids(client, world.op, "q=lovelace") == [ada]
    assert _ids(client, world.op, "q=LOVELACE+ada") == [ada]
    assert _ids(client, world.op, "q=countess%40analytical.example") == [ada]
    assert _ids(client, world.op, "q=analytical") == [ada]
    # A changed name is found by its new words only.
    token = visitor_token(client, world.site["site_key"], name="Grace Hopper")
    grace = start_conversation(client, token, body="Hi")["conversation"]["id"]
    response = client.patch(
        "/api/v1/widget/visitor", json={"name": "Grace Murray"}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    assert _ids(client, world.op, "q=murray") == [grace]
    assert _ids(client, world.op, "q=hopper") == []


def test_an_agent_never_finds_another_sites_text(client: TestClient) -> None:
    world = api_world(client)
    other = new_site(client, world.op, name="Other")
    here = _start(world, "secret walrus plans", name="Walrus Fan")
    there = _start(world, "secret walrus plans", site_key=other["site_key"], name="Walrus Fan")
    assert sorted(_ids(client, world.op, "q=walrus")) == sorted([here, there])
    agent = quick_operator(client, "agent", site_ids=[world.site["id"]])
    login(client, agent)
    assert _ids(client, {}, "q=walrus") == [here]
    assert _ids(client, {}, "q=walrus+fan") == [here]
    assert _ids(client, {}, f"q=walrus&site_id={other['id']}") == []
    assert _ids(client, {}, "q=walrus&status=open") == [here]


def test_private_notes_match_for_operators_never_for_visitors(client: TestClient) -> None:
    world = api_world(client)
    conversation_id = _start(world, "Hello there")
    note = _note(world, conversation_id, "internal: customer is a narwhal", private=True)
    [found] = _search(client, world.op, "q=narwhal")
    assert found["match"]["message_id"] == note  # operators read every note they can see

    # A visitor-facing search (what a visitor could be shown) never reaches a note.
    def visitor_facing(conn: Connection) -> list[Any]:
        theirs = conversations.c.id == conversation_id

        def hits(word: str) -> list[Any]:
            matcher = search_matcher(conn, search_words(word))
            return search_hits(conn, matcher, [theirs], include_private=False, limit=10)

        return hits("narwhal") + hits("hello")

    hits = services_db(client).read_sync(visitor_facing)
    assert [(hit.conversation_id, hit.message_id is not None) for hit in hits] == [
        (conversation_id, True)
    ]
    # Timeline entries (system, private) are never matched: "resolved" is only in one.
    client.patch(
        f"/api/v1/conversations/{conversation_id}", json={"status": "resolved"}, headers=world.op
    )
    assert all("match" not in c for c in _search(client, world.op, "q=resolved"))


def _index_counts(conn: Connection, word: str) -> tuple[int, int]:
    if conn.dialect.name == "postgresql":
        query = "SELECT count(*) FROM {} WHERE search_vector @@ plainto_tsquery('simple', :w)"
        return (
            conn.execute(text(query.format("messages")), {"w": word}).scalar_one(),
            conn.execute(text(query.format("visitors")), {"w": word}).scalar_one(),
        )
    fts = "SELECT count(*) FROM {0} WHERE {0} MATCH :w"
    # The external-content index must agree with its table (no stale rowids left).
    conn.execute(text("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')"))
    conn.execute(text("INSERT INTO visitors_fts(visitors_fts) VALUES ('integrity-check')"))
    return (
        conn.execute(text(fts.format("messages_fts")), {"w": f'"{word}"'}).scalar_one(),
        conn.execute(text(fts.format("visitors_fts")), {"w": f'"{word}"'}).scalar_one(),
    )


def test_erased_and_deleted_leave_no_trace_in_the_index(client: TestClient) -> None:
    world = api_world(client)
    erased = _start(world, "my platypus order", name="Platypus Person")
    _note(world, erased, "platypus note", private=True)
    site = new_site(client, world.op, name="Closing")
    _start(world, "the okapi order", site_key=site["site_key"], name="Okapi Person")
    kept = _start(world, "kept wombat")
    db = services_db(client)
    assert db.read_sync(lambda conn: _index_counts(conn, "platypus")) == (2, 1)
    assert db.read_sync(lambda conn: _index_counts(conn, "okapi")) == (1, 1)

    visitor_id = client.get(f"/api/v1/conversations/{erased}", headers=world.op).json()["visitor"][
        "id"
    ]
    assert client.delete(f"/api/v1/visitors/{visitor_id}", headers=world.op).status_code == 204
    assert client.delete(f"/api/v1/sites/{site['id']}", headers=world.op).status_code == 204

    assert _ids(client, world.op, "q=platypus") == []
    assert _ids(client, world.op, "q=okapi") == []
    assert db.read_sync(lambda conn: _index_counts(conn, "platypus")) == (0, 0)
    assert db.read_sync(lambda conn: _index_counts(conn, "okapi")) == (0, 0)
    assert _ids(client, world.op, "q=wombat") == [kept]  # the rest is intact


BAD_OR_ODD = [
    '"refund',
    'refund"',
    "refund*",
    "*",
    "NEAR(refund order)",
    "refund NEAR order",
    "-refund",
    "refund -order",
    "(refund",
    "refund)",
    "((((",
    "refund AND",
    "OR refund",
    "NOT refund",
    "^refund",
    "body:refund",
    "{body}: refund",
    "refund:*",
    "refund & order | !x",
    "'refund'",
    "refund\\",
    "refund \u2603 \U0001f600",
    "a b c d e f g h i j k l m",  # too many words
    "x" * 65,  # a word too long
    "x " * 100,
    "\u200b",
    "%",
    "_",
]


def test_odd_queries_give_results_or_a_clear_422(client: TestClient) -> None:
    world = api_world(client)
    wanted = _start(world, "refund my order please")
    for q in BAD_OR_ODD:
        response = client.get("/api/v1/conversations", params={"q": q}, headers=world.op)
        assert response.status_code in (200, 422), (q, response.status_code, response.text)
        if response.status_code == 422:
            assert response.json()["error"]["code"] == "validation_error", q
        else:  # every word must be in the message: syntax characters only separate words
            words = set(search_words(q))
            found = [c["id"] for c in response.json()["conversations"]]
            assert found == ([wanted] if words <= {"refund", "my", "order", "please"} else []), q
    too_long = client.get("/api/v1/conversations", params={"q": "y" * 201}, headers=world.op)
    assert too_long.status_code == 422


def test_search_pages_follow_the_ranking(client: TestClient) -> None:
    world = api_world(client)
    made = [_start(world, f"kiwi {'kiwi ' * n}fruit") for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = "q=kiwi&limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/api/v1/conversations?{query}", headers=world.op)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [c["id"] for c in page["conversations"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))  # more of the word ranks higher
    for bad in ("nope", "WyJzZWFyY2giLCAtMV0"):  # not a cursor; ["search", -1]
        response = client.get(f"/api/v1/conversations?q=kiwi&cursor={bad}", headers=world.op)
        assert response.status_code == 422, response.text


def test_the_index_follows_new_messages_at_once(client: TestClient) -> None:
    world = api_world(client)
    conversation_id = world.conversation["id"]
    assert _ids(client, world.op, "q=quokka") == []
    assert (
        send_visitor(client, world.visitor_token, conversation_id, "a quokka!").status_code == 201
    )
    assert _ids(client, world.op, "q=quokka") == [conversation_id]
    rows = services_db(client).read_sync(
        lambda conn: conn.execute(select(conversations.c.id)).scalars().all()
    )
    assert conversation_id in rows
