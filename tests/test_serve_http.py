"""``chatdesk serve`` as the network sees it: the URLs it prints and its bounded
request heads (uvicorn's httptools parser has no bound of its own; web/http_protocol.py).

One real server for the module, started as a user would, with ``CHATDESK_PUBLIC_URL``.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.test_serve import CHATDESK, _env, _wait_ready

PUBLIC_URL = "https://chat.example.com"
MAX_HEAD = 32768  # the defaults: CHATDESK_MAX_HEADER_BYTES, CHATDESK_MAX_HEADER_COUNT
MAX_HEADERS = 100
MIB = 1 << 20


@dataclass
class Served:
    port: int
    pid: int
    log: Path

    def printed(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    log = tmp / "serve.log"
    env = _env(
        CHATDESK_DATABASE_URL=f"sqlite:///{tmp / 'chatdesk.db'}",
        CHATDESK_PUBLIC_URL=PUBLIC_URL + "/",
    )
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(CHATDESK), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        assert _wait_ready(f"http://127.0.0.1:{port}/readyz", server), log.read_text()
        yield Served(port, server.pid, log)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def _exchange(port: int, data: bytes) -> tuple[list[int], bytes]:
    """Send ``data`` on a fresh connection and read until the server closes it: the
    status of every response, and everything read."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    # A response follows the previous body directly: not necessarily at a line start.
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)], received


def _request(*headers: str, path: str = "/healthz", close: bool = True, body: bytes = b"") -> bytes:
    lines = [
        f"{'POST' if body else 'GET'} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *headers,
        *([f"Content-Length: {len(body)}", "Content-Type: application/json"] if body else []),
        *(["Connection: close"] if close else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_printed_urls_are_the_public_url(served: Served) -> None:
    printed = served.printed()
    assert f"chatdesk is running at {PUBLIC_URL}\n" in printed
    urls = set(re.findall(r"https?://\S+", printed))
    assert urls == {
        PUBLIC_URL,
        f"{PUBLIC_URL}/admin",
        f"{PUBLIC_URL}/demo",
        f"{PUBLIC_URL}/api/docs",
        f"{PUBLIC_URL}/admin/account",
    }, printed
    assert "change it under Account" in printed and "Settings" not in printed


def test_a_20_mb_header_block_is_refused_and_memory_stays_bounded(served: Served) -> None:
    # The peak RSS (VmHWM) from now on: the first owner's password hash at start-up
    # (Argon2, 64 MiB) is not this test's business.
    Path(f"/proc/{served.pid}/clear_refs").write_text("5")
    before = _status_kib(served.pid, "VmHWM")
    outcomes: list[tuple[int, bytes]] = []

    def flood() -> None:
        sent = 0
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            try:
                sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
                block = b"a" * MIB
                for _ in range(20):
                    sock.sendall(block)
                    sent += 1
                sock.sendall(b"\r\n\r\n")
                answer = sock.recv(65536)
            except OSError:  # reset: the server closed with our bytes unread
                answer = b""
        outcomes.append((sent, answer))

    floods = [threading.Thread(target=flood) for _ in range(4)]
    for thread in floods:
        thread.start()
    for thread in floods:
        thread.join(timeout=120)
    assert len(outcomes) == 4
    for sent, answer in outcomes:
        # Refused with 431, or cut off: never read whole and answered.
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:80]
        assert sent < 20 or answer.startswith(b"HTTP/1.1 431 "), sent
    grown_kib = _status_kib(served.pid, "VmHWM") - before
    assert grown_kib < 16 * 1024, f"peak RSS grew by {grown_kib} KiB"
    # The server is fine, and a large head under the limit is served.
    with urllib.request.urlopen(f"http://127.0.0.1:{served.port}/readyz", timeout=10) as ready:
        assert ready.status == 200
    statuses, _ = _exchange(served.port, _request("X-Fill: " + "f" * (MAX_HEAD - 200)))
    assert statuses == [200]


def test_a_head_over_the_limit_gets_431(served: Served) -> None:
    statuses, received = _exchange(served.port, _request("X-Fill: " + "f" * MAX_HEAD))
    assert statuses == [431]
    body = json.loads(received.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "bad_request" and "32768 bytes" in body["error"]["message"]
    # The request line counts too.
    statuses, _ = _exchange(served.port, _request(path="/healthz?" + "q" * MAX_HEAD))
    assert statuses == [431]


def test_more_headers_than_the_limit_get_431(served: Served) -> None:
    # Host, Connection and these: exactly the limit, then one more.
    fill = [f"X-H{i}: v" for i in range(MAX_HEADERS - 2)]
    assert _exchange(served.port, _request(*fill))[0] == [200]
    statuses, received = _exchange(served.port, _request(*fill, "X-One-More: v"))
    assert statuses == [431]
    assert b"more than 100 headers" in received


def test_a_body_read_with_its_head_is_not_counted_as_head(served: Served) -> None:
    # 60 KiB of JSON sent with its head in one write: over the head limit together, but
    # only the head counts.
    body = json.dumps({"site_key": "pk_nope", "name": "n" * 60000}).encode()
    statuses, _ = _exchange(served.port, _request(path="/api/v1/widget/sessions", body=body))
    assert len(statuses) == 1 and statuses[0] != 431 and statuses[0] < 500


def test_pipelined_requests_each_get_their_own_limit(served: Served) -> None:
    # Two requests of 20 KiB heads in one write (together over the limit): both served.
    half = "X-Fill: " + "f" * 20000
    data = _request(half, close=False) + _request(half)
    assert _exchange(served.port, data)[0] == [200, 200]
