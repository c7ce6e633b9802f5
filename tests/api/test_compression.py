"""Compression at the edge (API.md, Service): what is compressed, how, and what never is.

Bodies are read raw (``iter_raw``) and decompressed here, so a wrong encoding or a
body that does not match its ``Content-Encoding`` fails, not only a missing header.
"""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import brotli
import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from chatdesk.web.compression import MIN_JSON, SECRET_FIELDS
from chatdesk.web.middleware import EdgeMiddleware
from tests.api.world import PASSWORD, api_world, quick_operator
from tests.factories import bearer, csrf, login

GZIP = {"Accept-Encoding": "gzip"}
BR = {"Accept-Encoding": "gzip, deflate, br"}
IDENTITY = {"Accept-Encoding": "identity"}
# Four bytes a character in UTF-8 (the API writes JSON as UTF-8): long bodies from
# fields with a length limit in characters.
WIDE = "\U0001f600" * 200
LONG_EMAIL = "v" * 64 + "@" + "a" * 63 + "." + "b" * 63 + ".example.com"


def raw(
    client: TestClient | httpx.Client, method: str, url: str, **kwargs: Any
) -> tuple[Any, bytes]:
    """The response and its body exactly as sent (not decoded). The schema check hook
    reads (and decodes) every response, so it is set aside for this one."""
    hooks = client.event_hooks
    client.event_hooks = {**hooks, "response": []}
    try:
        with client.stream(method, url, **kwargs) as response:
            return response, b"".join(response.iter_raw())
    finally:
        client.event_hooks = hooks


def decoded(response: Any, body: bytes) -> bytes:
    encoding = response.headers.get("content-encoding")
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        result: bytes = brotli.decompress(body)
        return result
    assert encoding is None, encoding
    return body


def assert_compressed(client: Any, method: str, url: str, **kwargs: Any) -> bytes:
    """gzip and br each decompress to the identity body; returns that body."""
    headers = kwargs.pop("headers", {})
    plain, original = raw(client, method, url, headers={**headers, **IDENTITY}, **kwargs)
    assert "content-encoding" not in plain.headers
    assert "accept-encoding" in plain.headers.get("vary", "").lower()
    for offer, expected in ((GZIP, "gzip"), (BR, "br")):
        response, body = raw(client, method, url, headers={**headers, **offer}, **kwargs)
        assert response.status_code == plain.status_code
        assert response.headers.get("content-encoding") == expected, url
        assert int(response.headers["content-length"]) == len(body) < len(original)
        assert "accept-encoding" in response.headers["vary"].lower()
        assert decoded(response, body) == original
    return original


def assert_plain(client: Any, method: str, url: str, **kwargs: Any) -> tuple[Any, bytes]:
    headers = kwargs.pop("headers", {})
    response, body = raw(client, method, url, headers={**headers, **BR}, **kwargs)
    assert "content-encoding" not in response.headers, (url, response.headers)
    return response, body


def test_loader_static_files_and_frame_pages_are_compressed(client: TestClient) -> None:
    world = api_world(client)
    assert_compressed(client, "GET", "/widget.js")
    frame = assert_compressed(
        client, "GET", "/widget/frame", params={"site": world.site["site_key"]}
    ).decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', frame)
    assert len(assets) == 2
    for path in (*assets, "/static/console/console.css", "/static/console/app.js"):
        assert_compressed(client, "GET", path)
    assert_compressed(client, "GET", "/demo")


def test_json_above_one_kib_is_compressed_and_small_json_is_not(client: TestClient) -> None:
    world = api_world(client)
    assert_compressed(client, "GET", "/openapi.json")
    for n in range(8):
        client.post(
            "/api/v1/canned-responses",
            json={"shortcut": f"reply{n}", "body": "Thanks for waiting! " * 10},
            headers=world.op,
        )
    listed = assert_compressed(client, "GET", "/api/v1/canned-responses", headers=world.op)
    assert len(listed) > MIN_JSON
    # The message path: a small JSON answer goes out as it is.
    response, body = assert_plain(
        client,
        "POST",
        f"/api/v1/widget/conversations/{world.conversation['id']}/messages",
        json={"body": "Hi", "client_msg_id": "c1"},
        headers=bearer(world.visitor_token),
    )
    assert response.status_code == 201 and len(body) < MIN_JSON
    assert "vary" not in response.headers


def test_etag_of_a_compressed_body_is_weak_and_still_validates(client: TestClient) -> None:
    response, _ = raw(client, "GET", "/widget.js", headers=BR)
    etag = response.headers["etag"]
    assert etag.startswith('W/"')
    again = client.get("/widget.js", headers={**BR, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_responses_with_a_secret_are_never_compressed(client: TestClient) -> None:
    """Each route that hands out a secret, with a body large enough to be compressed
    otherwise; the same data without the secret is compressed (the control)."""
    world = api_world(client)
    owner = quick_operator(client, "owner", name=WIDE)
    signed_in, body = assert_plain(
        client, "POST", "/api/v1/auth/login", json={"email": owner.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200 and len(body) > MIN_JSON
    owner.csrf_token = _json(body)["csrf_token"]
    me, body = assert_plain(client, "GET", "/api/v1/auth/me")
    assert me.status_code == 200 and len(body) > MIN_JSON

    made, body = assert_plain(
        client, "POST", "/api/v1/api-tokens", json={"name": WIDE}, headers=csrf(owner)
    )
    assert made.status_code == 201 and len(body) > MIN_JSON and "token" in _json(body)
    assert_compressed(client, "GET", "/api/v1/api-tokens", headers=csrf(owner))

    hook = {"url": f"https://hooks.example.com/{WIDE}", "events": ["message.created"]}
    made, body = assert_plain(client, "POST", "/api/v1/webhooks", json=hook, headers=csrf(owner))
    assert made.status_code == 201 and len(body) > MIN_JSON and "secret" in _json(body)
    for _ in range(3):
        client.post("/api/v1/webhooks", json=hook, headers=csrf(owner))
    assert_compressed(client, "GET", "/api/v1/webhooks", headers=csrf(owner))

    session, body = assert_plain(
        client,
        "POST",
        "/api/v1/widget/sessions",
        json={"site_key": world.site["site_key"], "name": WIDE, "email": LONG_EMAIL},
    )
    assert session.status_code == 201 and len(body) > MIN_JSON
    assert "visitor_token" in _json(body)

    for n in range(4):
        client.post(
            "/api/v1/sites",
            json={"name": WIDE[:50] + str(n), "allowed_origins": ["https://a.example"]},
            headers=world.op,
        )
    listed, body = assert_plain(client, "GET", "/api/v1/sites", headers=world.op)
    assert listed.status_code == 200 and len(body) > MIN_JSON
    assert "identity_secret" in _json(body)["sites"][0]


def test_console_pages_embed_the_csrf_token_and_are_not_compressed(client: TestClient) -> None:
    owner = login(client, quick_operator(client, "owner"))
    page, body = assert_plain(client, "GET", "/admin")
    assert page.status_code == 200 and owner.csrf_token and owner.csrf_token.encode() in body


def _secret_app(field: str) -> EdgeMiddleware:
    body = {"padding": "x" * 2000, field: "s3cret"}

    async def endpoint(_request: Any) -> Response:
        return JSONResponse(body)

    return EdgeMiddleware(
        Starlette(routes=[Route("/", endpoint)]), max_bytes=10_000, production=False
    )


@pytest.mark.parametrize("field", SECRET_FIELDS)
def test_any_body_holding_a_secret_field_is_left_alone(field: str) -> None:
    with TestClient(_secret_app(field)) as client:
        assert_plain(client, "GET", "/")
    with TestClient(_secret_app("harmless")) as client:
        assert_compressed(client, "GET", "/")


def test_a_body_sent_in_parts_is_compressed_whole() -> None:
    parts = [b"export const a = 1;\n" * 100, b"export const b = 2;\n" * 100, b"// end\n"]

    async def endpoint(_request: Any) -> Response:
        async def chunks() -> Any:
            for part in parts:
                yield part

        return StreamingResponse(chunks(), media_type="text/javascript")

    app = EdgeMiddleware(Starlette(routes=[Route("/", endpoint)]), max_bytes=1, production=False)
    with TestClient(app) as client:
        assert assert_compressed(client, "GET", "/") == b"".join(parts)


# Response fields whose names look secret but hold none (reviewed; api_tokens lists
# prefixes only; passkeys lists names and dates, never a key; public_key holds the
# WebAuthn options a browser needs, public by design): a new field matching
# the pattern must be added here or to SECRET_FIELDS, or this test fails.
PUBLIC_LOOKALIKES = {
    "api_tokens",
    "identity_secret_set",
    "site_key",
    "must_change_password",
    "passkeys",
    "public_key",
}
_SECRET_LOOKING = re.compile(r"token|secret|password|key|csrf", re.IGNORECASE)


def _properties(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            found.add(name)
            found |= _properties(value)
        for key, value in node.items():
            if key != "properties":
                found |= _properties(value)
    elif isinstance(node, list):
        for item in node:
            found |= _properties(item)
    return found


def test_every_secret_looking_response_field_is_classified(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    # Response bodies only: request bodies (a password sent in) are never compressed.
    responses = [
        op.get("responses", {}) for path in schema["paths"].values() for op in path.values()
    ]
    referenced = set(
        re.findall(r'"#/components/schemas/([^"]+)"', str(responses).replace("'", '"'))
    )
    components = schema["components"]["schemas"]
    names: set[str] = set()
    seen: set[str] = set()
    while referenced - seen:
        name = (referenced - seen).pop()
        seen.add(name)
        names |= _properties(components[name])
        referenced |= set(re.findall(r"#/components/schemas/([^'\"]+)", str(components[name])))
    looking = {n for n in names if _SECRET_LOOKING.search(n)}
    assert "visitor_token" in looking and "csrf_token" in looking  # the walk reaches them
    assert looking <= set(SECRET_FIELDS) | PUBLIC_LOOKALIKES, looking - PUBLIC_LOOKALIKES


def _json(body: bytes) -> Any:
    return json.loads(body)
