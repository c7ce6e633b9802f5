"""The direct lane (ADR 0005) answers exactly as the same routes do through FastAPI.

Each request below is sent twice to one app: once on the lane, once with the lane
switched off (so FastAPI's router serves the same function); status, error body
and the headers the edge adds must be the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from chatdesk.app import ChatdeskApp
from chatdesk.web.errors import install_error_handlers
from chatdesk.web.events_api import After, Wait
from chatdesk.web.schemas import VisitorMessageIn, read_json, read_query
from tests.factories import World, bearer, make_world


@pytest.fixture
def world_client(app: ChatdeskApp) -> Iterator[tuple[TestClient, World]]:
    with TestClient(app) as client:
        yield client, make_world(client)


def _answer(client: TestClient, request: dict[str, Any]) -> tuple[Any, ...]:
    response = client.request(**request)
    body = response.json() if response.content else None
    kept = ("content-type", "cache-control", "content-security-policy", "x-frame-options")
    return response.status_code, body, tuple(response.headers.get(h) for h in kept)


def test_the_lane_serves_the_busiest_routes(app: ChatdeskApp) -> None:
    lane = {(route.path, tuple(sorted(route.methods or ()))) for route in app.fast_routes}
    assert ("/api/v1/widget/conversations/{conversation_id}/messages", ("POST",)) in lane
    assert ("/api/v1/widget/events", ("GET", "HEAD")) in lane
    assert app.fast_lane is not None


def test_lane_and_router_give_the_same_answers(
    app: ChatdeskApp, world_client: tuple[TestClient, World]
) -> None:
    client, world = world_client
    visitor = bearer(world.visitor_token)
    messages = f"/api/v1/widget/conversations/{world.conversation['id']}/messages"
    json_type = {**visitor, "Content-Type": "application/json"}
    requests: list[dict[str, Any]] = [
        {"method": "POST", "url": messages, "json": {"body": "hi", "client_msg_id": "lane-1"}},
        {"method": "POST", "url": messages, "json": {"body": "hi"}, "headers": visitor},
        {"method": "POST", "url": messages, "json": {"body": "", "client_msg_id": "x"}},
        {"method": "POST", "url": messages, "json": {"body": "a", "client_msg_id": "x", "y": 1}},
        {"method": "POST", "url": messages, "content": b"{not json", "headers": json_type},
        {"method": "POST", "url": messages, "content": b"", "headers": json_type},
        {"method": "POST", "url": messages, "content": b"[" * 5000, "headers": json_type},
        {
            "method": "POST",
            "url": messages,
            "content": b'{"body": "\\udc00"}',
            "headers": json_type,
        },
        {"method": "POST", "url": messages, "content": b"\xff\xfe", "headers": json_type},
        {"method": "POST", "url": messages, "content": b"body=hi", "headers": visitor},
        {
            "method": "POST",
            "url": messages.replace(world.conversation["id"], "nope"),
            "json": {"body": "hi", "client_msg_id": "elsewhere"},
        },
        {"method": "GET", "url": "/api/v1/widget/events?after=abc&wait=-1"},
        {"method": "GET", "url": "/api/v1/widget/events?after=&wait=nan"},
        {"method": "GET", "url": "/api/v1/widget/events?after=0&wait=0"},
        {"method": "HEAD", "url": "/api/v1/widget/events"},
        {"method": "PUT", "url": messages},
    ]
    for request in requests:
        request.setdefault("headers", visitor)
    unauthenticated = [
        {"method": "POST", "url": messages, "json": {"body": "hi", "client_msg_id": "anon"}},
        {"method": "GET", "url": "/api/v1/widget/events", "headers": bearer("cdv_wrong")},
    ]

    def answers() -> list[tuple[Any, ...]]:
        return [_answer(client, r) for r in [*requests, *unauthenticated]]

    on_lane = answers()  # the first message is stored here (201), repeated below (200)
    lane = app.fast_lane
    app.fast_lane = None
    try:
        via_router = answers()
    finally:
        app.fast_lane = lane
    assert on_lane[0][0] == 201 and via_router[0][0] == 200
    assert on_lane[0][1] == via_router[0][1]  # the same stored message, both times
    sent = [*requests, *unauthenticated]
    for request, a, b in zip(sent[1:], on_lane[1:], via_router[1:], strict=True):
        assert a == b, request
    assert {a[0] for a in on_lane} >= {400, 401, 404, 405, 422}


def test_reading_body_and_query_by_hand_matches_fastapi_parameters() -> None:
    """``read_json`` and ``read_query`` against FastAPI's own body and query parameters
    for the same model and annotations, on odd inputs of every kind."""
    reference = FastAPI()
    install_error_handlers(reference)

    @reference.post("/fastapi")
    async def by_fastapi(body: VisitorMessageIn, after: After = None, wait: Wait = None) -> Any:
        return {"body": body.model_dump(), "after": after, "wait": wait}

    @reference.post("/by-hand")
    async def by_hand(request: Request) -> Any:
        query = read_query(request, {"after": TypeAdapter(After), "wait": TypeAdapter(Wait)})
        body = await read_json(request, VisitorMessageIn)
        return {"body": body.model_dump(), **query}

    json_type = {"Content-Type": "application/json"}
    cases: list[dict[str, Any]] = [
        {"json": {"body": "hi", "client_msg_id": "a-1"}},
        {"json": {"body": "hi", "client_msg_id": "a-1"}, "params": {"after": "5", "wait": "1.5"}},
        {"json": {"body": "hi", "client_msg_id": "a"}, "params": {"after": "x", "wait": "99"}},
        {"json": {"body": "hi", "client_msg_id": "a"}, "params": {"after": "", "wait": "nan"}},
        {
            "json": {"body": "hi", "client_msg_id": "a"},
            "params": {"after": "9" * 30, "wait": "1e400"},
        },
        {"json": {"body": "hi", "client_msg_id": "a"}, "params": {"after": "1.5", "wait": "inf"}},
        {"json": {"body": "hi"}},
        {"json": {"body": "", "client_msg_id": "a"}},
        {"json": {"body": "a\u0000b", "client_msg_id": "a"}},
        {"json": {"body": 5, "client_msg_id": "a"}},
        {"json": {"body": "a", "client_msg_id": "bad id!"}},
        {"json": {"body": "a", "client_msg_id": "a", "extra": True}},
        {"json": [1, 2]},
        {"json": "text"},
        {"json": None},
        {"content": b"", "headers": json_type},
        {"content": b"  ", "headers": json_type},
        {"content": b"{not json", "headers": json_type},
        {"content": b"[" * 5000, "headers": json_type},
        {"content": b'{"body": "\\udc00", "client_msg_id": "a"}', "headers": json_type},
        {"content": b'{"body": "\\ud83d\\ude00", "client_msg_id": "a"}', "headers": json_type},
        {"content": b'{"body": "a", "body": "b", "client_msg_id": "a"}', "headers": json_type},
        {"content": b"\xff\xfe\xc3", "headers": json_type},
        {
            "content": b'{"body": "a", "client_msg_id": "a"}',
            "headers": {"Content-Type": "text/plain"},
        },
        {"content": b'{"body": "a", "client_msg_id": "a"}'},
        {
            "content": b'{"body": "a", "client_msg_id": "a"}',
            "headers": {"Content-Type": "application/vnd.api+json; charset=utf-8"},
        },
    ]
    with TestClient(reference) as client:
        for case in cases:
            expected = client.post("/fastapi", **case)
            got = client.post("/by-hand", **case)
            assert (got.status_code, got.json()) == (expected.status_code, expected.json()), case
