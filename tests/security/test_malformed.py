"""Malformed input on every route with a body or a query: always a 4xx with the JSON
envelope, never a 500, never a partial write, and the server keeps serving others."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import LiveServer
from tests.factories import bearer
from tests.security.arena import BUILDERS, Arena, api_routes, build_arena


@pytest.fixture
def arena(client: TestClient) -> Arena:
    return build_arena(client)


def _who(template: str) -> str:
    return "va" if template.startswith("/api/v1/widget/") else "own"


def _body_routes(arena: Arena, media: str = "application/json") -> dict[tuple[str, str], bool]:
    """Routes taking a ``media`` body -> whether the body is required (from the OpenAPI
    schema)."""
    spec = arena.client.get("/openapi.json").json()
    found = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if media in operation.get("requestBody", {}).get("content", {}):
                found[(method.upper(), path)] = operation["requestBody"].get("required", False)
    return found


UPLOAD_ROUTES = {
    ("POST", "/api/v1/widget/conversations/{conversation_id}/attachments"),
    ("POST", "/api/v1/conversations/{conversation_id}/attachments"),
    ("PUT", "/api/v1/auth/me/avatar"),
}


def test_upload_routes_refuse_what_is_not_one_multipart_file(arena: Arena) -> None:
    """Uploads take multipart bodies (their own malformed cases are in
    tests/api/test_attachments.py); every JSON or broken body gets a 4xx envelope."""
    assert set(_body_routes(arena, "multipart/form-data")) == UPLOAD_ROUTES
    before = _count_rows(arena)
    for key in UPLOAD_ROUTES:
        who = _who(key[1])
        for name, content in BAD_BODIES.items():
            _check_4xx(_send(arena, key, who, content), f"{key} {name}")
        for content_type in (
            "multipart/form-data",  # no boundary
            "multipart/form-data; boundary=zz",  # a boundary the body never has
            "multipart/mixed; boundary=zz",
            "text/plain",
        ):
            _check_4xx(_send(arena, key, who, b"--zz\r\n", **{"Content-Type": content_type}), key)
    assert _count_rows(arena) == before


def _query_routes(arena: Arena) -> dict[tuple[str, str], dict[str, str]]:
    """Routes of the API with query parameters -> {name: JSON-schema type}. (The signed
    file links' token, outside /api/, is tried in tests/api/test_attachments.py.)"""
    spec = arena.client.get("/openapi.json").json()
    found: dict[tuple[str, str], dict[str, str]] = {}
    for path, item in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            params = {}
            for param in operation.get("parameters", []):
                if param["in"] == "query":
                    schema = param["schema"]
                    kinds = [s.get("type") for s in schema.get("anyOf", [schema])]
                    params[param["name"]] = next(k for k in kinds if k and k != "null")
            if params:
                found[(method.upper(), path)] = params
    return found


def _check_4xx(response: httpx.Response, label: str) -> None:
    assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:300])
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}, label
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert "Traceback" not in response.text


def _send(arena: Arena, key: tuple[str, str], who: str, content: bytes, **headers: str) -> Any:
    path, _ = BUILDERS[key](arena, who)
    return arena.call(
        key[0],
        path,
        who,
        content=content,
        headers={"Content-Type": "application/json", **headers},
    )


BAD_BODIES: dict[str, bytes] = {
    "not json": b"this is not json",
    "truncated": b'{"body": "x", ',
    "array": b"[]",
    "array of object": b'[{"body": "x"}]',
    "number": b"1",
    "huge number": b"9" * 5000,
    "string": b'"body"',
    "true": b"true",
    "nested arrays": b"[" * 10_000 + b"]" * 10_000,
    "nested objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "invalid utf-8": b'{"body": "\xff\xfe\xfd", "client_msg_id": "x", "name": "\xc3\x28"}',
    "NaN": b'{"body": NaN, "name": NaN}',
    "trailing garbage": b'{"name": "x"} trailing',
}


def test_every_body_route_refuses_malformed_bodies(arena: Arena) -> None:
    routes = _body_routes(arena)
    assert len(routes) >= 14
    assert routes.keys() <= BUILDERS.keys()
    for key, required in routes.items():
        who = _who(key[1])
        for name, content in BAD_BODIES.items():
            _check_4xx(_send(arena, key, who, content), f"{key} {name}")
        # UTF-16/32 JSON (detected by its BOM or zero bytes) may be read or refused.
        assert _send(arena, key, who, json.dumps({}).encode("utf-16")).status_code < 500
        null = _send(arena, key, who, b"null")
        if required:
            _check_4xx(null, f"{key} null")
        else:
            assert null.status_code < 500
        # Wrong media types are refused even when the bytes are valid JSON.
        path, body = BUILDERS[key](arena, who)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/html"):
            response = arena.call(
                key[0],
                path,
                who,
                content=json.dumps(body or {}).encode(),
                headers={"Content-Type": content_type},
            )
            _check_4xx(response, f"{key} {content_type}")


def _string_paths(value: Any, trail: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [trail]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _string_paths(v, (*trail, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _string_paths(v, (*trail, i))]
    return []


def _replace(value: Any, trail: tuple[Any, ...], new: Any) -> Any:
    if not trail:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[trail[0]] = _replace(value[trail[0]], trail[1:], new)
    return copy


def _count_rows(arena: Arena) -> tuple[int, int]:
    listing = arena.call("GET", "/api/v1/conversations?limit=100", "own").json()
    messages = arena.call("GET", f"/api/v1/conversations/{arena.conv_a['id']}/messages", "own")
    return len(listing["conversations"]), len(messages.json()["messages"])


def test_nul_bytes_and_lone_surrogates_in_strings_are_422(arena: Arena) -> None:
    before = _count_rows(arena)
    checked = 0
    for key in _body_routes(arena):
        who = _who(key[1])
        path, body = BUILDERS[key](arena, who)
        for trail in _string_paths(body):
            original = _replace(body, (), body)
            value = original
            for part in trail:
                value = value[part]
            for bad in (value + "\x00", "\x00", value + "\ud800", "\udfff" + value):
                # json.dumps writes \\u0000 and \\ud800 escapes, exactly as a client would.
                response = arena.call(
                    key[0],
                    path,
                    who,
                    content=json.dumps(_replace(body, trail, bad)).encode(),
                    headers={"Content-Type": "application/json"},
                )
                _check_4xx(response, f"{key} {trail} {bad!r}")
                assert response.status_code == 422, (key, trail, response.text)
                checked += 1
            # The same in an object key.
            response = arena.call(key[0], path, who, json={**body, "x\x00": 1})
            _check_4xx(response, f"{key} NUL key")
    assert checked > 40
    assert _count_rows(arena) == before


def test_duplicate_keys_never_break_the_server(arena: Arena) -> None:
    cid = arena.conv_a["id"]
    raw = b'{"body": "first", "body": "second", "client_msg_id": "dup", "client_msg_id": "dup2"}'
    response = arena.call(
        "POST",
        f"/api/v1/widget/conversations/{cid}/messages",
        "va",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    # One value wins (the last, as in every mainstream JSON parser); both are never stored.
    assert response.status_code == 201, response.text
    assert response.json()["body"] == "second"
    history = arena.call("GET", f"/api/v1/conversations/{cid}/messages", "own").json()
    assert [m["body"] for m in history["messages"]].count("first") == 0
    raw = b'{"status": "open", "status": "resolved", "status": "bogus"}'
    response = arena.call(
        "PATCH",
        f"/api/v1/conversations/{cid}",
        "own",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    _check_4xx(response, "duplicate status")


NASTY_QUERY = [
    "-1",
    "99999999999999999999999",
    str(10**9),
    "0",
    "1e3",
    "nan",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    " 1",
    "abc",
    "",
    "%00",
    "a%00b",
    "%ff%fe",
    "x" * 5000,
    "%0d%0a",
    "%ed%a0%80",
    "[]",
    "null",
]


def test_every_query_parameter_survives_nasty_values(arena: Arena) -> None:
    routes = _query_routes(arena)
    assert len(routes) >= 7
    for key, params in routes.items():
        who = "none" if key[1] == "/api/v1/widget/config" else _who(key[1])
        path, _ = BUILDERS[key](arena, who)
        base = path.split("?", 1)[0]
        for name in params:
            for value in NASTY_QUERY:
                extra = "&wait=0" if key[1].endswith("/events") and name != "wait" else ""
                response = arena.call(key[0], f"{base}?{name}={value}{extra}", who)
                assert response.status_code < 500, (key, name, value, response.text)
                if response.status_code >= 400:
                    _check_4xx(response, f"{key} {name}={value}")
                if "%00" in value:
                    assert response.status_code == 400, (key, name, value)
            # Repeated parameters are not a way around validation either.
            response = arena.call(key[0], f"{base}?{name}=1&{name}=-1", who)
            assert response.status_code < 500


def test_cursor_edges_are_refused_with_422(arena: Arena) -> None:
    cid = arena.conv_a["id"]
    cases = [
        ("va", "/api/v1/widget/events?wait=0&after=-1"),
        ("va", "/api/v1/widget/events?wait=0&after=99999999999999999999999"),
        ("own", "/api/v1/events?wait=0&after=-1"),
        ("own", "/api/v1/events?wait=-1"),
        ("own", "/api/v1/events?wait=nan"),
        ("own", "/api/v1/events?wait=1e308"),
        ("own", "/api/v1/conversations?limit=0"),
        ("own", f"/api/v1/conversations?limit={10**9}"),
        ("own", "/api/v1/conversations?cursor=garbage"),
        ("own", "/api/v1/conversations?cursor=WzEsMiwzXQ"),  # [1,2,3]
        ("own", "/api/v1/conversations?cursor=WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTEyOjAwIiwiYSJd"),
        ("own", "/api/v1/conversations?cursor=eyJhIjoxLCJiIjoyfQ"),  # {"a":1,"b":2}
        ("own", f"/api/v1/conversations/{cid}/messages?limit=0"),
        ("own", f"/api/v1/conversations/{cid}/messages?limit={10**9}"),
        ("va", f"/api/v1/widget/conversations/{cid}/messages?limit=-5"),
        ("own", "/api/v1/audit-log?before=garbage"),
        ("own", "/api/v1/audit-log?before=-1"),
        ("own", "/api/v1/audit-log?before=99999999999999999999999"),
    ]
    for who, path in cases:
        response = arena.call("GET", path, who)
        _check_4xx(response, path)
        assert response.status_code in (410, 422), (path, response.status_code)
    # A cursor past the head (from another database) is expired, not a 500.
    response = arena.call("GET", "/api/v1/widget/events?wait=0&after=4611686018427387904", "va")
    _check_4xx(response, "after head")
    # A garbage `before` on message history is just a filter: it never fails.
    for before in ("garbage", "~~~~", "%ff", "0" * 64):
        response = arena.call(
            "GET", f"/api/v1/widget/conversations/{cid}/messages?before={before}", "va"
        )
        assert response.status_code in (200, 400, 422), response.text
    # Last-Event-ID is validated like a cursor.
    for value in ("-1", "abc", "\xb2".encode("latin-1"), "99999999999999999999999", "1 2"):
        response = arena.call(
            "GET",
            "/api/v1/widget/events?wait=0",
            "va",
            headers={"Accept": "text/event-stream", "Last-Event-ID": value},
        )
        _check_4xx(response, f"Last-Event-ID {value}")


def test_nul_and_odd_bytes_in_paths(arena: Arena) -> None:
    for path in (
        "/api/v1/conversations/%00",
        "/api/v1/conversations/a%00b/messages",
        "/api/v1/widget/conversations/%00/messages",
    ):
        response = arena.call("GET", path, "own" if "widget" not in path else "va")
        _check_4xx(response, path)
        assert response.status_code == 400
    for path in (
        "/api/v1/conversations/" + "x" * 5000,
        "/api/v1/conversations/%ff%fe",
        "/api/v1/conversations/..%2f..%2fetc%2fpasswd",
        "/api/v1/sites/%0d%0aSet-Cookie:%20x=y",
    ):
        response = arena.call("GET", path, "own")
        _check_4xx(response, path)
        assert "set-cookie" not in response.headers


def test_oversized_bodies_are_413(arena: Arena) -> None:
    big = json.dumps({"body": "x" * 1_000_000, "client_msg_id": "big"}).encode()
    for key in _body_routes(arena):
        response = _send(arena, key, _who(key[1]), big)
        _check_4xx(response, f"{key} 1MB")
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
    # A lying Content-Length is refused before anything is read.
    response = arena.call(
        "POST",
        "/api/v1/widget/conversations",
        "va",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "999999999"},
    )
    assert response.status_code in (400, 413)


# -- a real server keeps serving while one client misbehaves ---------------------------------


def _healthy(url: str) -> float:
    started = time.monotonic()
    response = httpx.get(url + "/healthz", timeout=5)
    assert response.status_code == 200
    return time.monotonic() - started


@pytest.mark.live
def test_slow_and_oversized_bodies_do_not_stop_other_clients(live_server: LiveServer) -> None:
    url = live_server.url
    session = httpx.post(url + "/api/v1/widget/sessions", json={"site_key": "nope"}, timeout=5)
    assert session.status_code == 404
    # A client that declares a body and then sends it very slowly...
    slow = socket.create_connection(("127.0.0.1", live_server.port))
    slow.sendall(
        b"POST /api/v1/widget/sessions HTTP/1.1\r\nHost: x\r\n"
        b'Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"site_key": '
    )
    # ...and one streaming an endless chunked body.
    stop = threading.Event()
    result: dict[str, Any] = {}

    def endless() -> Any:
        for _ in range(64):  # 4 MB, far over the limit, in chunks with no Content-Length
            if stop.is_set():
                return
            yield b" " * 65536

    def stream() -> None:
        try:
            result["response"] = httpx.post(
                url + "/api/v1/widget/sessions",
                content=endless(),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    try:
        for _ in range(5):
            assert _healthy(url) < 2
        thread.join(10)
        stop.set()
        response = result.get("response")
        if response is not None:
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "payload_too_large"
        else:  # the server may close the connection while the client is still sending
            assert isinstance(result.get("error"), httpx.HTTPError)
        assert _healthy(url) < 2
        # A flood of malformed requests on many connections changes nothing for others.
        for _ in range(20):
            bad = httpx.post(
                url + "/api/v1/widget/sessions",
                content=b"[" * 10_000,
                headers={"Content-Type": "application/json"},
                timeout=5,
            )
            assert bad.status_code == 400
        assert _healthy(url) < 2
    finally:
        stop.set()
        slow.close()


def test_health_check_and_visitors_keep_working_after_the_abuse(arena: Arena) -> None:
    for content in BAD_BODIES.values():
        arena.call(
            "POST",
            "/api/v1/widget/conversations",
            "va",
            content=content,
            headers={"Content-Type": "application/json"},
        )
    response = arena.client.post(
        "/api/v1/widget/conversations",
        json={"body": "still here", "client_msg_id": "after-abuse"},
        headers=bearer(arena.token_b),
    )
    assert response.status_code == 201


def test_every_api_route_is_probed(client: TestClient) -> None:
    # The body and query lists above come from the OpenAPI schema; make sure it lists every route.
    spec = client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert api_routes(client.app) <= documented  # type: ignore[arg-type]


def test_partial_nested_objects_change_only_what_they_name(arena: Arena) -> None:
    # Found by schemathesis: {"prechat": {"email": ...}} without "name" was a 500.
    site_id = arena.site1["id"]
    patched = arena.call(
        "PATCH", f"/api/v1/sites/{site_id}", "own", json={"prechat": {"email": "required"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["prechat"] == {"name": "optional", "email": "required"}
    patched = arena.call("PATCH", f"/api/v1/sites/{site_id}", "own", json={"prechat": {}})
    assert patched.status_code == 200
    assert patched.json()["prechat"] == {"name": "optional", "email": "required"}
    made = arena.call(
        "POST", "/api/v1/sites", "own", json={"name": "P", "prechat": {"name": "off"}}
    )
    assert made.status_code == 201
    assert made.json()["prechat"] == {"name": "off", "email": "optional"}
