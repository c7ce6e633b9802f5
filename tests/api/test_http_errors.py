"""Bad input at the HTTP level, on every endpoint that takes a body or an id.

Every error is the API.md envelope; nothing answers 500 (the TestClient re-raises
any unhandled exception, so a crash fails these tests loudly).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from chatdesk.ids import new_id
from tests.api.expect import assert_error
from tests.api.world import api_world, quick_operator
from tests.conftest import LiveServer
from tests.factories import bearer, login, make_world

LIMIT = 64 * 1024


@dataclass(frozen=True)
class BodyEndpoint:
    method: str
    path: str  # may hold {cid}, {sid}, {oid}
    audience: str  # "visitor", "operator" or "public"
    valid: dict[str, Any]
    text_field: str | None  # a string field with min_length >= 1
    all_optional: bool = False


BODY_ENDPOINTS = [
    BodyEndpoint("POST", "/api/v1/widget/sessions", "public", {"site_key": "K"}, "site_key"),
    BodyEndpoint("PATCH", "/api/v1/widget/visitor", "visitor", {"name": "V"}, "name", True),
    BodyEndpoint(
        "POST",
        "/api/v1/widget/conversations",
        "visitor",
        {"body": "hi", "client_msg_id": "c-1"},
        "body",
    ),
    BodyEndpoint(
        "POST",
        "/api/v1/widget/conversations/{cid}/messages",
        "visitor",
        {"body": "hi", "client_msg_id": "c-2"},
        "body",
    ),
    BodyEndpoint(
        "POST", "/api/v1/auth/login", "public", {"email": "a@b.co", "password": "x"}, "password"
    ),
    BodyEndpoint(
        "PATCH", "/api/v1/conversations/{cid}", "operator", {"status": "open"}, "assignee_id", True
    ),
    BodyEndpoint(
        "POST",
        "/api/v1/conversations/{cid}/messages",
        "operator",
        {"body": "hi", "client_msg_id": "o-1"},
        "body",
    ),
    BodyEndpoint("POST", "/api/v1/conversations/{cid}/typing", "operator", {}, None, True),
    BodyEndpoint("POST", "/api/v1/sites", "operator", {"name": "S"}, "name"),
    BodyEndpoint("PATCH", "/api/v1/sites/{sid}", "operator", {"name": "S"}, "name", True),
    BodyEndpoint(
        "POST",
        "/api/v1/operators",
        "operator",
        {"email": "new@example.com", "name": "N", "password": "long-enough-pw"},
        "name",
    ),
    BodyEndpoint("PATCH", "/api/v1/operators/{oid}", "operator", {"name": "N"}, "name", True),
    BodyEndpoint(
        "POST", "/api/v1/canned-responses", "operator", {"shortcut": "hi", "body": "b"}, "body"
    ),
    BodyEndpoint("POST", "/api/v1/api-tokens", "operator", {"name": "T"}, "name"),
]
IDS = [f"{e.method} {e.path}" for e in BODY_ENDPOINTS]


class Caller:
    """Sends raw requests to one endpoint with the right credentials and ids filled in."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.world = api_world(client)
        # An operator to PATCH: not the caller itself (self-changes have rules of their own).
        self.ids = {
            "cid": self.world.conversation["id"],
            "sid": self.world.site["id"],
            "oid": quick_operator(client, "agent").id,
        }

    def headers(self, endpoint: BodyEndpoint) -> dict[str, str]:
        if endpoint.audience == "visitor":
            return bearer(self.world.visitor_token)
        if endpoint.audience == "operator":
            return self.world.op
        return {}

    def send(
        self, endpoint: BodyEndpoint, content: bytes, extra: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {"content-type": "application/json", **self.headers(endpoint), **(extra or {})}
        return self.client.request(
            endpoint.method, endpoint.path.format(**self.ids), content=content, headers=headers
        )

    def send_json(self, endpoint: BodyEndpoint, body: Any) -> httpx.Response:
        return self.send(endpoint, json.dumps(body).encode())


@pytest.fixture
def caller(client: TestClient) -> Caller:
    return Caller(client)


def test_malformed_json_is_bad_request(caller: Caller) -> None:
    for endpoint in BODY_ENDPOINTS:
        for raw in (b"{", b'{"body": }', b"{'single': 'quotes'}", b"nul\x00", b'{"a": 1} x'):
            error = assert_error(caller.send(endpoint, raw), 400, "bad_request")
            assert "JSON" in error["message"], endpoint


def test_odd_json(caller: Caller) -> None:
    endpoint = BODY_ENDPOINTS[3]  # a visitor message
    assert_error(caller.send(endpoint, b"[" * 30_000), 400, "bad_request")  # too deep
    assert_error(caller.send(endpoint, b"  "), 400, "bad_request")
    assert_error(caller.send(endpoint, b""), 422, "validation_error")  # no body at all
    lone_surrogate = b'{"body": "\\udc00", "client_msg_id": "lone"}'
    assert_error(caller.send(endpoint, lone_surrogate), 422, "validation_error")
    emoji = b'{"body": "\\ud83d\\ude00 ok", "client_msg_id": "pair"}'
    stored = caller.send(endpoint, emoji)
    assert stored.status_code == 201 and stored.json()["body"] == "\U0001f600 ok"


def test_invalid_utf8_is_bad_request(caller: Caller) -> None:
    for endpoint in BODY_ENDPOINTS:
        assert_error(caller.send(endpoint, b'{"name": "\xff\xfe\xc3"}'), 400, "bad_request")


def test_non_object_json_is_validation_error(caller: Caller) -> None:
    for endpoint in BODY_ENDPOINTS:
        for body in ([], [endpoint.valid], "text", 42, True):
            assert_error(caller.send_json(endpoint, body), 422, "validation_error")


def test_unknown_field_is_refused(caller: Caller) -> None:
    for endpoint in BODY_ENDPOINTS:
        response = caller.send_json(endpoint, {**endpoint.valid, "is_admin": True})
        error = assert_error(response, 422, "validation_error")
        assert ["body", "is_admin"] in [d["loc"] for d in error["details"]], endpoint


def test_missing_fields(caller: Caller) -> None:
    for endpoint in BODY_ENDPOINTS:
        response = caller.send_json(endpoint, {})
        if endpoint.all_optional:
            assert response.status_code in (200, 204), (endpoint, response.text)
        else:
            error = assert_error(response, 422, "validation_error")
            assert error["details"] and all(d["type"] == "missing" for d in error["details"])


BAD_TEXT = ["", "x" * 20_001, 123, 1.5, False, ["list"], {"an": "object"}, None, "with \x00 NUL"]


def test_bad_text_fields(caller: Caller) -> None:
    for endpoint in BODY_ENDPOINTS:
        if endpoint.text_field is None:
            continue
        for value in BAD_TEXT:
            if value is None and endpoint.all_optional:
                continue  # null there means "leave unchanged" (or "unassign")
            response = caller.send_json(endpoint, {**endpoint.valid, endpoint.text_field: value})
            error = assert_error(response, 422, "validation_error")
            locs = [d["loc"][:2] for d in error["details"]]
            assert ["body", endpoint.text_field] in locs, (endpoint, value, error)


def test_validation_details_never_echo_the_input(caller: Caller) -> None:
    secret = "hunter2-" + "s" * 1000
    response = caller.client.post(
        "/api/v1/auth/login", json={"email": "a@b.co", "password": secret}
    )
    assert_error(response, 422, "validation_error")
    assert "hunter2" not in response.text


def test_oversized_body_by_content_length(caller: Caller) -> None:
    for endpoint in BODY_ENDPOINTS:
        raw = json.dumps({**endpoint.valid, "pad": "x" * LIMIT}).encode()
        assert_error(caller.send(endpoint, raw), 413, "payload_too_large")


def _padded_message(size: int) -> bytes:
    return json.dumps({"body": "x" * size, "client_msg_id": "big-1"}).encode()


def test_oversized_body_without_content_length(caller: Caller) -> None:
    endpoint = BODY_ENDPOINTS[3]  # a visitor message
    raw = _padded_message(LIMIT)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 4096):
            yield raw[start : start + 4096]

    response = caller.client.post(
        endpoint.path.format(**caller.ids),
        content=chunks(),
        headers={"content-type": "application/json", **caller.headers(endpoint)},
    )
    assert_error(response, 413, "payload_too_large")


def test_oversized_body_with_lying_content_length(caller: Caller) -> None:
    endpoint = BODY_ENDPOINTS[3]
    response = caller.send(endpoint, _padded_message(LIMIT), {"content-length": "40"})
    assert_error(response, 413, "payload_too_large")
    messages = caller.client.get(
        endpoint.path.format(**caller.ids), headers=bearer(caller.world.visitor_token)
    ).json()["messages"]
    assert [m["body"] for m in messages] == ["Hello"]


def test_body_just_under_the_limit_is_read(caller: Caller) -> None:
    response = caller.client.post(
        "/api/v1/widget/conversations/{cid}/messages".format(**caller.ids),
        json={"body": "y" * 10_000, "client_msg_id": "fits"},
        headers=bearer(caller.world.visitor_token),
    )
    assert response.status_code == 201, response.text


@pytest.mark.live
def test_chunked_oversized_body_on_a_real_server(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        site_key = "pk_unknown"

        def chunks() -> Iterator[bytes]:
            raw = json.dumps({"site_key": site_key, "page_url": "x" * LIMIT}).encode()
            for start in range(0, len(raw), 8192):
                yield raw[start : start + 8192]

        response = http.post(
            "/api/v1/widget/sessions",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert_error(response, 413, "payload_too_large")


def test_nul_in_nested_strings_is_refused(caller: Caller) -> None:
    owner = caller.world.op
    cid = caller.ids["cid"]
    checks = [
        ("PATCH", f"/api/v1/conversations/{cid}", {"labels": ["ok", "b\x00d"]}),
        ("PATCH", f"/api/v1/conversations/{cid}", {"assignee_id": "a\x00b"}),
        (
            "POST",
            "/api/v1/operators",
            {
                "email": "x@example.com",
                "name": "X",
                "password": "long-enough",
                "site_ids": ["\x00"],
            },
        ),
        ("PATCH", f"/api/v1/operators/{caller.ids['oid']}", {"site_ids": ["a\x00"]}),
        ("PATCH", f"/api/v1/sites/{caller.ids['sid']}", {"allowed_origins": ["https://a\x00.io"]}),
        (
            "PATCH",
            f"/api/v1/sites/{caller.ids['sid']}",
            {"business_hours": {"timezone": "UTC\x00", "days": {}}},
        ),
    ]
    for method, path, body in checks:
        response = caller.client.request(method, path, json=body, headers=owner)
        assert_error(response, 422, "validation_error")
    assert caller.client.get(f"/api/v1/conversations/{cid}", headers=owner).json()["labels"] == []


def test_nul_in_query_string_is_bad_request(caller: Caller) -> None:
    for query in ("q=%00", "q=a%00b", "label=%00", "site_id=x%00", "cursor=%00", "limit=1%00"):
        response = caller.client.get(f"/api/v1/conversations?{query}", headers=caller.world.op)
        assert_error(response, 400, "bad_request")
    assert_error(caller.client.get("/api/v1/widget/config?site_key=%00"), 400, "bad_request")


def test_nul_in_path_is_bad_request(caller: Caller) -> None:
    assert_error(caller.client.get("/api/v1/conversations/ab%00cd"), 400, "bad_request")
    response = caller.client.get(
        "/api/v1/widget/conversations/%00/messages", headers=bearer(caller.world.visitor_token)
    )
    assert_error(response, 400, "bad_request")


ID_PATHS = [
    ("GET", "/api/v1/conversations/{id}", "operator", None),
    ("PATCH", "/api/v1/conversations/{id}", "operator", {"status": "open"}),
    ("POST", "/api/v1/conversations/{id}/read", "operator", None),
    ("GET", "/api/v1/conversations/{id}/messages", "operator", None),
    (
        "POST",
        "/api/v1/conversations/{id}/messages",
        "operator",
        {"body": "x", "client_msg_id": "id-1"},
    ),
    ("POST", "/api/v1/conversations/{id}/typing", "operator", None),
    ("GET", "/api/v1/widget/conversations/{id}/messages", "visitor", None),
    (
        "POST",
        "/api/v1/widget/conversations/{id}/messages",
        "visitor",
        {"body": "x", "client_msg_id": "id-2"},
    ),
    ("POST", "/api/v1/widget/conversations/{id}/typing", "visitor", None),
    ("GET", "/api/v1/sites/{id}", "operator", None),
    ("PATCH", "/api/v1/sites/{id}", "operator", {"name": "x"}),
    ("PATCH", "/api/v1/operators/{id}", "operator", {"name": "x"}),
    ("DELETE", "/api/v1/canned-responses/{id}", "operator", None),
    ("DELETE", "/api/v1/api-tokens/{id}", "operator", None),
]
WEIRD_IDS = [
    "x" * 2000,
    "üñíçødé-😀",
    "' OR 1=1 --",
    "1; DROP TABLE messages",
    "<script>alert(1)</script>",
    "%25",
    "..",
]


def test_unknown_and_odd_ids_are_the_same_404(caller: Caller) -> None:
    """Ids are opaque: an id of any odd shape is just an id that is not there."""
    for method, template, audience, body in ID_PATHS:
        headers = caller.world.visitor if audience == "visitor" else caller.world.op

        def call(raw_id: str) -> httpx.Response:
            path = template.format(id=quote(raw_id, safe=""))  # noqa: B023 (used at once)
            return caller.client.request(method, path, json=body, headers=headers)  # noqa: B023

        reference = call(new_id())
        assert_error(reference, 404, "not_found")
        for raw_id in WEIRD_IDS:
            response = call(raw_id)
            assert_error(response, 404, "not_found")
            if raw_id != ".." and "/" not in raw_id:  # else: not one path segment, no route
                assert response.content == reference.content, (method, template, raw_id)
    # The database is intact after the injection-shaped ids.
    listed = caller.client.get("/api/v1/conversations", headers=caller.world.op).json()
    assert [c["id"] for c in listed["conversations"]] == [caller.ids["cid"]]
    messages = caller.client.get(
        f"/api/v1/conversations/{caller.ids['cid']}/messages", headers=caller.world.op
    ).json()["messages"]
    assert [m["body"] for m in messages] == ["Hello"]


def test_path_traversal_does_not_escape(caller: Caller) -> None:
    for path in (
        "/api/v1/conversations/..%2F..%2Fhealthz",
        "/api/v1/conversations/%2e%2e/sites",
        "/static/..%2F..%2Fsettings.py",
    ):
        response = caller.client.get(path)
        assert_error(response, 404, "not_found")


def test_unknown_routes_are_404_envelopes(client: TestClient) -> None:
    for path in ("/api/v1/nope", "/api/v2/conversations", "/nope", "/api/v1/widget"):
        assert_error(client.get(path), 404, "not_found")


def test_wrong_method_is_405_envelope(client: TestClient) -> None:
    for method, path in (
        ("PUT", "/api/v1/conversations"),
        ("DELETE", "/api/v1/sites"),
        ("GET", "/api/v1/auth/logout"),
        ("GET", "/api/v1/auth/login"),
        ("POST", "/healthz"),
        ("DELETE", "/api/v1/widget/conversations"),
    ):
        response = client.request(method, path)
        assert_error(response, 405, "method_not_allowed")
        assert response.headers["allow"]


def test_non_json_content_type_is_refused(caller: Caller) -> None:
    response = caller.client.post(
        "/api/v1/widget/sessions",
        content=json.dumps({"site_key": caller.world.site["site_key"]}),
        headers={"content-type": "text/plain"},
    )
    assert_error(response, 422, "validation_error")


def test_bad_query_parameters(caller: Caller) -> None:
    cid = caller.ids["cid"]
    visitor = bearer(caller.world.visitor_token)
    op = caller.world.op
    bad = [
        (f"/api/v1/conversations/{cid}/messages?limit=0", op),
        (f"/api/v1/conversations/{cid}/messages?limit=201", op),
        (f"/api/v1/conversations/{cid}/messages?limit=ten", op),
        (f"/api/v1/conversations/{cid}/messages?before={'x' * 65}", op),
        (f"/api/v1/widget/conversations/{cid}/messages?limit=-1", visitor),
        ("/api/v1/conversations?limit=101", op),
        ("/api/v1/conversations?status=closed", op),
        ("/api/v1/conversations?q=" + "q" * 201, op),
        ("/api/v1/conversations?assignee=" + "a" * 65, op),
        ("/api/v1/events?after=-1&wait=0", op),
        ("/api/v1/events?after=abc&wait=0", op),
        ("/api/v1/events?after=0&wait=56", op),
        ("/api/v1/events?after=0&wait=nan", op),
        ("/api/v1/widget/events?after=99999999999999999999999&wait=0", visitor),
        ("/api/v1/widget/config?site_key=", op),
        ("/api/v1/widget/config", op),
        ("/api/v1/audit-log?limit=1000", op),
        ("/api/v1/audit-log?action=DROP%20TABLE", op),
    ]
    for path, headers in bad:
        assert_error(caller.client.get(path, headers=headers), 422, "validation_error")


def test_service_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    services = client.app.state.services  # type: ignore[attr-defined]
    expected = {"database": "ok", "writer": "ok"}
    if services.db.file_path is not None:  # SQLite: its disk is checked too
        expected["disk"] = "ok"
    if services.settings.redis_url:
        expected |= {"bus": "ok", "rate_limits": "ok"}
    assert {name: check["status"] for name, check in ready.json()["checks"].items()} == expected
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/widget/config",
        "/api/v1/widget/sessions",
        "/api/v1/widget/conversations",
        "/api/v1/widget/conversations/{conversation_id}/messages",
        "/api/v1/widget/conversations/{conversation_id}/typing",
        "/api/v1/widget/events",
        "/api/v1/widget/visitor",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/conversations/{conversation_id}/typing",
        "/api/v1/conversations/{conversation_id}/read",
        "/api/v1/events",
        "/api/v1/sites",
        "/api/v1/sites/{site_id}",
        "/api/v1/operators",
        "/api/v1/operators/{operator_id}",
        "/api/v1/canned-responses",
        "/api/v1/canned-responses/{canned_id}",
        "/api/v1/api-tokens",
        "/api/v1/api-tokens/{token_id}",
        "/api/v1/labels",
        "/api/v1/team",
        "/api/v1/audit-log",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text


def test_api_responses_carry_safety_headers(caller: Caller) -> None:
    response = caller.client.get("/api/v1/auth/me", headers=caller.world.op)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    error = caller.client.get("/api/v1/nope")
    assert error.headers["cache-control"] == "no-store"


def test_bad_authorization_headers(caller: Caller) -> None:
    for value in ("Basic YTpi", "Bearer", "Bearer    ", "Token abc", "bearer cdk_" + "x" * 43):
        response = caller.client.get("/api/v1/conversations", headers={"Authorization": value})
        assert_error(response, 401, "unauthorized")
        response = caller.client.get("/api/v1/sites", headers={"Authorization": value})
        assert_error(response, 401, "unauthorized")
        response = caller.client.get(
            "/api/v1/widget/conversations", headers={"Authorization": value}
        )
        assert_error(response, 401, "unauthorized")


def test_login_required_everywhere(client: TestClient) -> None:
    world = make_world(client)
    client.cookies.clear()
    cid = world.conversation["id"]
    for method, path in (
        ("GET", "/api/v1/auth/me"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/conversations"),
        ("GET", f"/api/v1/conversations/{cid}"),
        ("GET", f"/api/v1/conversations/{cid}/messages"),
        ("GET", "/api/v1/events?wait=0"),
        ("GET", "/api/v1/sites"),
        ("GET", "/api/v1/operators"),
        ("GET", "/api/v1/canned-responses"),
        ("GET", "/api/v1/api-tokens"),
        ("GET", "/api/v1/labels"),
        ("GET", "/api/v1/team"),
        ("GET", "/api/v1/audit-log"),
        ("GET", "/api/v1/widget/conversations"),
        ("GET", "/api/v1/widget/visitor"),
        ("GET", f"/api/v1/widget/conversations/{cid}/messages"),
        ("GET", "/api/v1/widget/events?wait=0"),
    ):
        assert_error(client.request(method, path), 401, "unauthorized")
    login(client, world.owner)
    assert client.get("/api/v1/auth/me").status_code == 200
