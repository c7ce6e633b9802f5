"""What validating responses against their declared shapes would cost (ADR 0009).

    .venv/bin/python bench/response_shapes.py [--rounds 12]

Two measurements on a 50-conversation inbox page and a 50-message history:

1. serialisation alone, per body: FastAPI's path for the shipped routes
   (``response_model=Any``: pydantic's serialiser, no validation), the same with
   the TypedDict as ``response_model`` (validated, then serialised), Starlette's
   ``JSONResponse`` (``json.dumps``), and no response model at all
   (``jsonable_encoder``);
2. whole requests in process over ASGI, by process CPU per request (reader
   thread included), the same handlers mounted twice: once as shipped and once
   with the TypedDict as ``response_model``, alternating rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.encoders import jsonable_encoder
from pydantic import TypeAdapter

from chatdesk.actions.operators import create_operator
from chatdesk.app import create_app
from chatdesk.security.passwords import hash_password
from chatdesk.settings import Settings
from chatdesk.shape_types import ConversationPage, MessageList
from chatdesk.web import console_api
from chatdesk.web.deps import OPERATOR_LIMITS

ROUTES = (
    ("/conversations", console_api.get_conversations, ConversationPage),
    ("/conversations/{conversation_id}/messages", console_api.get_messages, MessageList),
)


async def call(app: Any, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
    """One request straight through the ASGI app; returns (status, headers, body)."""
    raw = json.dumps(body).encode() if body is not None else b""
    sent = [(b"host", b"testserver")]
    sent += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body is not None:
        sent.append((b"content-type", b"application/json"))
    route, _, query = path.partition("?")
    scope = {
        **{"type": "http", "http_version": "1.1", "method": method, "scheme": "http"},
        **{"path": route, "raw_path": route.encode(), "query_string": query.encode()},
        **{"headers": sent, "server": ("testserver", 80), "client": ("127.0.0.1", 5000)},
        **{"root_path": "", "state": {}},
    }
    out: dict[str, Any] = {"body": b""}
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"], out["headers"] = message["status"], message["headers"]
        else:
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out


def mount_variants(app: FastAPI) -> None:
    """The two handlers again under /shipped and /validated, with the console's limits."""
    for name, model in (("shipped", None), ("validated", True)):
        router = APIRouter(prefix=f"/{name}/api/v1", dependencies=OPERATOR_LIMITS)
        for path, handler, shape in ROUTES:
            router.add_api_route(path, handler, response_model=shape if model else Any)
        app.include_router(router)


async def seed(app: Any) -> tuple[dict[str, str], str]:
    """An owner signed in, 50 visitors with a labelled conversation each, 50 messages in one."""
    password = "pw-" + secrets.token_urlsafe(10)
    await app.state.services.db.write(
        create_operator,
        None,
        email="owner@example.com",
        name="Owner",
        role="owner",
        password_hash=hash_password(password),
    )
    origin = {"origin": "http://testserver"}
    login = {"email": "owner@example.com", "password": password}
    signed = await call(app, "POST", "/api/v1/auth/login", login, origin)
    cookie = next(v.decode() for k, v in signed["headers"] if k == b"set-cookie").split(";")[0]
    op = {"cookie": cookie, "x-csrf-token": json.loads(signed["body"])["csrf_token"], **origin}
    site_body = {"name": "Shop", "allowed_origins": ["https://shop.example.com"]}
    site = json.loads((await call(app, "POST", "/api/v1/sites", site_body, op))["body"])
    conversation_id = ""
    for i in range(50):
        profile = {"site_key": site["site_key"], "name": f"Visitor {i}", "email": f"v{i}@x.com"}
        session = await call(app, "POST", "/api/v1/widget/sessions", profile)
        visitor = {"authorization": "Bearer " + json.loads(session["body"])["visitor_token"]}
        first = {"body": "A question about my order " * 3, "client_msg_id": secrets.token_hex(6)}
        started = await call(app, "POST", "/api/v1/widget/conversations", first, visitor)
        conversation_id = json.loads(started["body"])["conversation"]["id"]
        labels = {"labels": ["billing", "vip"]}
        await call(app, "PATCH", f"/api/v1/conversations/{conversation_id}", labels, op)
    for i in range(49):
        reply = {
            "body": f"Reply {i}, thanks for waiting " * 2,
            "client_msg_id": secrets.token_hex(6),
        }
        await call(app, "POST", f"/api/v1/conversations/{conversation_id}/messages", reply, op)
    return op, conversation_id


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _ways(body: Any, shape: Any) -> dict[str, Callable[[], Any]]:
    plain, typed = TypeAdapter(Any), TypeAdapter(shape)
    return {
        "shipped: response_model=Any": lambda: plain.dump_json(plain.validate_python(body)),
        "response_model=TypedDict": lambda: typed.dump_json(typed.validate_python(body)),
        "JSONResponse (json.dumps)": lambda: _dumps(body),
        "no model (jsonable_encoder)": lambda: _dumps(jsonable_encoder(body)),
    }


def serialisation(bodies: dict[str, tuple[Any, Any]]) -> None:
    print("serialisation alone, best of 5, µs per body")
    for label, (body, shape) in bodies.items():
        for way, run in _ways(body, shape).items():
            best = min(timeit.repeat(run, number=200, repeat=5)) / 200 * 1e6
            print(f"  {label:12s} {way:30s} {best:8.1f}")


async def requests(app: Any, urls: dict[str, str], op: dict[str, str], rounds: int) -> None:
    print(f"whole requests, process CPU µs per request; {rounds} rounds of 100 each")
    for label, url in urls.items():
        timings: dict[str, list[float]] = {"shipped": [], "validated": []}
        expected = (await call(app, "GET", url, None, op))["body"]
        for _ in range(rounds):
            for variant, found in timings.items():
                answer = await call(app, "GET", f"/{variant}{url}", None, op)
                assert answer["status"] == 200 and answer["body"] == expected, variant
                started = time.process_time()
                for _ in range(100):
                    await call(app, "GET", f"/{variant}{url}", None, op)
                found.append((time.process_time() - started) / 100 * 1e6)
        for summary, pick in (("median", statistics.median), ("best", min)):
            shipped, validated = (pick(timings[v]) for v in ("shipped", "validated"))
            change = (validated - shipped) / shipped * 100
            print(
                f"  {label:12s} {summary:6s} shipped {shipped:6.0f}"
                f"  validated {validated:6.0f}  ({change:+.1f}%)"
            )


async def main(rounds: int) -> None:
    directory = tempfile.mkdtemp()
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{directory}/bench.db",
        redis_url=None,
        rate_limits="off",
        log_level="warning",
    )
    app = create_app(settings)
    mount_variants(app)
    async with app.router.lifespan_context(app):
        op, conversation_id = await seed(app)
        urls = {
            "inbox, 50": "/api/v1/conversations?limit=50",
            "history, 50": f"/api/v1/conversations/{conversation_id}/messages?limit=50",
        }
        page = json.loads((await call(app, "GET", urls["inbox, 50"], None, op))["body"])
        history = json.loads((await call(app, "GET", urls["history, 50"], None, op))["body"])
        serialisation(
            {"inbox, 50": (page, ConversationPage), "history, 50": (history, MessageList)}
        )
        await requests(app, urls, op, rounds)


if __name__ == "__main__":  # the SQLite writer process re-imports this module
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    asyncio.run(main(parser.parse_args().rounds))
