"""The baselines chatdesk is measured beside, on the same server stack (uvicorn, uvloop, httptools).

* ``bare``: a Starlette endpoint that reads the body and returns 200.
* ``parked``: a Starlette endpoint that answers ``/wait`` after 60 s (what the
  stack itself holds per parked request), anything else at once.
* ``sqlite_app()`` (a uvicorn factory): the same endpoint plus one single-row
  insert + commit with stdlib ``sqlite3`` on the event loop (WAL,
  ``synchronous=NORMAL``) into the file named by ``BENCH_SQLITE_PATH``.

Run: ``python -m uvicorn --app-dir bench baseline_app:bare`` or
``python -m uvicorn --app-dir bench --factory baseline_app:sqlite_app``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["bare", "parked", "sqlite_app"]

OK = b'{"ok":true}'


async def _ok(request: Request) -> Response:
    await request.body()
    return Response(OK, media_type="application/json")


bare = Starlette(routes=[Route("/{path:path}", _ok, methods=["GET", "POST"])])


async def _wait(request: Request) -> Response:
    await asyncio.sleep(60)
    return Response(OK, media_type="application/json")


parked = Starlette(routes=[Route("/wait", _wait), Route("/{path:path}", _ok)])


def sqlite_app() -> Starlette:
    conn = sqlite3.connect(os.environ["BENCH_SQLITE_PATH"], isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS messages"
        " (id INTEGER PRIMARY KEY, body BLOB NOT NULL, created_at REAL NOT NULL)"
    )

    async def insert(request: Request) -> Response:
        body = await request.body()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO messages (body, created_at) VALUES (?, ?)", (body, time.time()))
        conn.execute("COMMIT")
        return Response(OK, status_code=201, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", insert, methods=["GET", "POST"])])
