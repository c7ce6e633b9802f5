"""The direct lane (ADR 0005) answers exactly as the same routes do through FastAPI.

Each request below is sent twice to one app: once on the lane, once with the lane
switched off (its list of routes emptied, so FastAPI's route serves the same
function); status, error body and the headers the edge adds must be the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatdesk.app import ChatdeskApp, DirectLane
from chatdesk.web.errors import install_error_handlers
from chatdesk.web.events_api import After, Wait
from chatdesk.web.middleware import EdgeMiddleware
from chatdesk.web.schemas import VisitorMessageIn, read_json, read_query
from tests.factories import World, bearer, make_world


@contextmanager
def lane_off(app: ChatdeskApp) -> Iterator[None]:
    routes = list(app.fast_routes)
    app.fast_routes.clear()
    try:
        yield
    finally:
        app.fast_routes[:] = routes


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
    # HEAD is left to FastAPI's GET route, which answers it with 405 (checked below).
    assert ("/api/v1/widget/events", ("GET",)) in lane
    # One edge, and the lane innermost: behind every middleware, the edge included.
    stack: list[object] = [m.cls for m in app.user_middleware]
    assert stack == [EdgeMiddleware, DirectLane]


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
    with lane_off(app):
        via_router = answers()
    assert on_lane[0][0] == 201 and via_router[0][0] == 200
    assert on_lane[0][1] == via_router[0][1]  # the same stored message, both times
    sent = [*requests, *unauthenticated]
    for request, a, b in zip(sent[1:], on_lane[1:], via_router[1:], strict=True):
        assert a == b, request
    assert {a[0] for a in on_lane} >= {400, 401, 404, 405, 422}


class _Recorder:
    """A middleware added once the app is built, as a deployment might add one; it can
    also break the request body, to cause an unexpected error inside a handler."""

    def __init__(self, app: ASGIApp, *, seen: list[str], broken: list[bool]) -> None:
        self.app = app
        self.seen = seen
        self.broken = broken

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def breaking_receive() -> Message:
            if self.broken:
                raise RuntimeError("the body could not be read")
            return await receive()

        await self.app(scope, breaking_receive, send)
        # The scope is shared all the way down: FastAPI's router marks the ones it served.
        served_by = "router" if "router" in scope else "lane"
        self.seen.append(f"{scope['method']} {scope['path']} ({served_by})")


def test_middleware_added_later_sees_lane_requests_too(app: ChatdeskApp) -> None:
    seen: list[str] = []
    app.add_middleware(_Recorder, seen=seen, broken=[])
    with TestClient(app) as client:
        world = make_world(client)
        visitor = bearer(world.visitor_token)
        messages = f"/api/v1/widget/conversations/{world.conversation['id']}/messages"
        seen.clear()
        posted = client.post(
            messages, json={"body": "hi", "client_msg_id": "seen-1"}, headers=visitor
        )
        events = client.get("/api/v1/widget/events?wait=0", headers=visitor)
        config = client.get(f"/api/v1/widget/config?site_key={world.site['site_key']}")
    assert [posted.status_code, events.status_code, config.status_code] == [201, 200, 200]
    assert seen == [
        f"POST {messages} (lane)",
        "GET /api/v1/widget/events (lane)",
        "GET /api/v1/widget/config (router)",
    ]
    # One edge, whichever route served: one request id, the edge's headers.
    for response in (posted, events, config):
        assert len(response.headers.get_list("x-request-id")) == 1
        assert response.headers["x-content-type-options"] == "nosniff"
    # The edge logs and counts lane requests under their route, like any other.
    registry = app.state.services.metrics.registry
    for method, route, status in [
        ("POST", "/api/v1/widget/conversations/{conversation_id}/messages", "201"),
        ("GET", "/api/v1/widget/events", "200"),
    ]:
        labels = {"method": method, "route": route, "status": status}
        assert registry.get_sample_value("chatdesk_http_requests_total", labels) == 1


def test_an_unexpected_error_on_the_lane_is_the_500_envelope(app: ChatdeskApp) -> None:
    broken: list[bool] = []
    app.add_middleware(_Recorder, seen=[], broken=broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        world = make_world(client)
        visitor = bearer(world.visitor_token)
        messages = f"/api/v1/widget/conversations/{world.conversation['id']}/messages"
        broken.append(True)
        on_lane = client.post(messages, json={"body": "hi", "client_msg_id": "e"}, headers=visitor)
        with lane_off(app):
            via_router = client.post(
                messages, json={"body": "hi", "client_msg_id": "e"}, headers=visitor
            )
    assert on_lane.status_code == 500
    assert on_lane.json()["error"]["code"] == "internal_error"
    assert (on_lane.status_code, on_lane.json()) == (via_router.status_code, via_router.json())


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
