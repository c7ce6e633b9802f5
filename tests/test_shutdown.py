"""SIGTERM to ``chatdesk serve`` with many parked readers: a quick, clean, lossless stop.

The server answers every parked long-poll with its cursor and ends every SSE stream
with the body's last chunk (so clients reconnect with Last-Event-ID), lets in-flight
writes finish, and exits with code 0 within 5 s. A message stored just before the
signal is there, once, after a restart on the same database.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.event_loops import run_coroutine
from tests.test_serve import CHATDESK, _env, _wait_ready

PARKED = 200  # of each kind: long-polls and SSE streams


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _start(tmp_path: Path, env: dict[str, str], name: str) -> Running:
    port = free_port()
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(CHATDESK), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Running(process, port, log)
    if not _wait_ready(f"{running.url}/readyz", process):
        process.kill()
        process.wait()
        pytest.fail(log.read_text())
    return running


@pytest.fixture
def serve_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield _env(
        CHATDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'chatdesk.db'}",
        CHATDESK_RATE_LIMITS="off",
        # One operator parks every reader here: above the cap of streams per principal.
        CHATDESK_MAX_STREAMS_OPERATOR=str(2 * PARKED),
    )


def _sign_in(server: Running, printed: str) -> httpx.Client:
    """Sign in as the owner the first start created: its email printed, its password in
    the private file the output names (standard output is no terminal here)."""
    email = re.search(r"email:\s+(\S+)", printed)
    owner_file = server.log.parent / "chatdesk-first-owner.txt"
    assert str(owner_file) in printed, printed
    password = re.search(r"^password: (\S+)$", owner_file.read_text(), re.MULTILINE)
    assert email is not None and password is not None, printed
    client = httpx.Client(base_url=server.url, timeout=10)
    signed = client.post("/api/v1/auth/login", json={"email": email[1], "password": password[1]})
    assert signed.status_code == 200, signed.text
    client.headers["x-csrf-token"] = signed.json()["csrf_token"]
    return client


async def _request(port: int, cookie: str, target: str, accept: str) -> tuple[bytes, bool]:
    """Send one GET and read until the server closes: (everything read, reset?)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: {accept}\r\n"
        f"cookie: chatdesk_session={cookie}\r\n\r\n".encode()
    )
    await writer.drain()
    try:
        return await reader.read(-1), False
    except ConnectionResetError:
        return b"", True
    finally:
        writer.close()


def _head_and_body(raw: bytes) -> tuple[str, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


async def _park_and_stop(server: Running, cookie: str, cursor: int) -> tuple[list[int], float]:
    polls = [
        asyncio.create_task(
            _request(server.port, cookie, f"/api/v1/events?after={cursor}&wait=50", "*/*")
        )
        for _ in range(PARKED)
    ]
    streams = [
        asyncio.create_task(
            _request(server.port, cookie, f"/api/v1/events?after={cursor}", "text/event-stream")
        )
        for _ in range(PARKED)
    ]
    async with httpx.AsyncClient(base_url=server.url) as client:
        for _ in range(300):  # until every reader is parked
            metrics = (await client.get("/metrics")).text
            found = re.search(r"^chatdesk_open_streams (\d+)", metrics, re.MULTILINE)
            if found and int(found[1]) >= 2 * PARKED:
                break
            await asyncio.sleep(0.1)
        else:
            done = [t.result() for t in (*polls, *streams) if t.done()]
            pytest.fail(f"not all readers parked: {found and found[1]} {done[:2]}")
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    answered = await asyncio.wait_for(asyncio.gather(*polls), timeout=10)
    ended = await asyncio.wait_for(asyncio.gather(*streams), timeout=10)
    code = await asyncio.to_thread(server.process.wait, 10)
    took = time.monotonic() - signalled
    assert code == 0, server.log.read_text()

    cursors = []
    for raw, reset in answered:
        assert not reset
        head, body = _head_and_body(raw)
        assert head.startswith("HTTP/1.1 200"), head
        page = json.loads(body)
        assert page["events"] == []
        cursors.append(page["cursor"])
    for raw, reset in ended:
        assert not reset
        head, body = _head_and_body(raw)
        assert head.startswith("HTTP/1.1 200") and "text/event-stream" in head, head
        assert "transfer-encoding: chunked" in head.lower(), head
        assert body.endswith(b"0\r\n\r\n"), body[-80:]  # the body's last chunk: a clean end
    return cursors, took


def test_sigterm_answers_parked_readers_and_exits_quickly(
    tmp_path: Path, serve_env: dict[str, str]
) -> None:
    server = _start(tmp_path, serve_env, "first")
    try:
        printed = server.log.read_text()
        operator = _sign_in(server, printed)
        site = operator.post(
            "/api/v1/sites", json={"name": "Shop", "allowed_origins": ["https://shop.example"]}
        )
        assert site.status_code == 201, site.text
        visitor = httpx.Client(base_url=server.url, timeout=10)
        session = visitor.post(
            "/api/v1/widget/sessions", json={"site_key": site.json()["site_key"]}
        )
        visitor.headers["authorization"] = f"Bearer {session.json()['visitor_token']}"
        opened = visitor.post(
            "/api/v1/widget/conversations", json={"body": "hello", "client_msg_id": "first-1"}
        )
        assert opened.status_code == 201, opened.text
        cid = opened.json()["conversation"]["id"]
        cursor = operator.get("/api/v1/events", params={"wait": 0}).json()["cursor"]
        # Stored just before the signal: the reply must survive the stop, once.
        reply = operator.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"body": "just before the stop", "client_msg_id": "last-1"},
        )
        assert reply.status_code == 201, reply.text
        head = operator.get("/api/v1/events", params={"wait": 0}).json()["cursor"]
        cookie = operator.cookies["chatdesk_session"]
        cursors, took = run_coroutine(lambda: _park_and_stop(server, cookie, head))
        operator.close()
        visitor.close()
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    assert took < 5, took
    assert cursors == [head] * PARKED  # each long-poll answered with its cursor

    again = _start(tmp_path, serve_env, "again")
    try:
        operator = _sign_in(again, printed)
        page = operator.get("/api/v1/events", params={"after": cursor, "wait": 0}).json()
        stored = [
            e["data"]["message"]["client_msg_id"]
            for e in page["events"]
            if e["type"] == "message.created"
            and e["data"]["message"]["author"]["type"] != "system"  # not the timeline's
        ]
        assert stored == ["last-1"]
        retried = operator.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"body": "just before the stop", "client_msg_id": "last-1"},
        )
        assert retried.status_code == 200  # the same message, not a second one
        messages = operator.get(f"/api/v1/conversations/{cid}/messages").json()["messages"]
        assert [m["client_msg_id"] for m in messages].count("last-1") == 1
        operator.close()
    finally:
        again.process.send_signal(signal.SIGTERM)
        again.process.wait(timeout=10)
