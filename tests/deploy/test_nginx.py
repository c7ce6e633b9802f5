"""chatdesk behind the shipped nginx recipe, for real: Debian's nginx with TLS and HTTP/2
in front of two ``chatdesk serve`` processes on one PostgreSQL database and Redis.

- a browser (Debian's Chromium) signs in through the proxy and lands in the console;
- an SSE stream through the proxy gets each message within a second of its POST, whichever
  process took the POST;
- the process holding a stream is killed with SIGKILL; the client reconnects through
  nginx with ``Last-Event-ID``, reaches the other process, and sees every event exactly
  once.

The processes are started once for the module; the last test kills one of them.
"""

from __future__ import annotations

import re
import secrets
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.console_helpers import new_page, sign_in
from tests.deploy.stack import (
    Nginx,
    Node,
    StreamReader,
    chatdesk_cli,
    new_secret,
    postgres_database,
    reachable_redis,
    self_signed_certificate,
    settings_env,
    tls_context,
)
from tests.factories import Operator, bearer

pytestmark = [pytest.mark.live, pytest.mark.redis, pytest.mark.browser]

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass
class Stack:
    nginx: Nginx
    nodes: list[Node]
    tls: ssl.SSLContext  # trusts the test certificate; built once (see tls_context)
    owner: Operator
    site_key: str = ""

    def client(self, **options: Any) -> httpx.Client:
        """A client of the public https address (nginx)."""
        return httpx.Client(base_url=self.nginx.url, verify=self.tls, timeout=TIMEOUT, **options)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("nginx-stack")
    redis_url = reachable_redis()
    with postgres_database() as database_url:
        env = settings_env(
            env="production",
            secret_key=new_secret(),
            database_url=database_url,
            redis_url=redis_url,
            trusted_proxies="127.0.0.1/32",
            log_format="json",
            # Runs of this test share Redis's counters, and every client is 127.0.0.1:
            # the per-address limits would add up over runs. Failed sign-ins: as high as
            # production allows (a higher login limit is refused at start).
            rate_limit_login_ip="500/5minute",
            rate_limit_admin_write="1000/minute",
            rate_limit_admin_write_ip="1000/minute",
            rate_limit_widget_session="1000/minute",
            rate_limit_widget_conversation="1000/minute",
        )
        # As docs/deploy.md says: migrate, then the first owner, then the processes.
        chatdesk_cli(env, "migrate")
        password = "owner-" + secrets.token_urlsafe(12)
        email = f"owner-{secrets.token_hex(4)}@example.com"
        made = chatdesk_cli(
            env,
            *("create-operator", "--email", email, "--name", "Olive Owner", "--role", "owner"),
            "--password-stdin",
            stdin=password + "\n",
        )
        assert "Created owner" in made
        nodes = [Node(env, home / f"node{i}.log") for i in range(2)]
        cert, key = self_signed_certificate(home)
        nginx = Nginx(home / "nginx", [node.port for node in nodes], cert, key)
        try:
            for node in nodes:
                node.start()
            for node in nodes:
                node.wait_ready()
            nginx.start()
            yield Stack(nginx, nodes, tls_context(cert), Operator("", email, password, "owner"))
        finally:
            nginx.stop()
            for node in nodes:
                node.stop()


@pytest.fixture(scope="module")
def owner_http(stack: Stack) -> Iterator[httpx.Client]:
    """The owner signed in through the proxy, with a site and its key on ``stack``."""
    with stack.client() as http:
        response = http.post(
            "/api/v1/auth/login",
            json={"email": stack.owner.email, "password": stack.owner.password},
        )
        assert response.status_code == 200, response.text
        stack.owner.csrf_token = response.json()["csrf_token"]
        http.headers["X-CSRF-Token"] = stack.owner.csrf_token
        made = http.post(
            "/api/v1/sites", json={"name": "Shop", "allowed_origins": ["https://shop.example.com"]}
        )
        assert made.status_code == 201, made.text
        stack.site_key = made.json()["site_key"]
        yield http


@dataclass
class Chat:
    """A visitor's conversation, driven through the proxy by the visitor and the owner."""

    http: httpx.Client
    owner_http: httpx.Client
    token: str
    conversation_id: str

    def visitor_says(self, body: str) -> dict[str, Any]:
        return self._post(
            self.http,
            f"/api/v1/widget/conversations/{self.conversation_id}/messages",
            {"body": body, "client_msg_id": secrets.token_hex(8)},
            bearer(self.token),
        )

    def owner_says(self, body: str) -> dict[str, Any]:
        return self._post(
            self.owner_http,
            f"/api/v1/conversations/{self.conversation_id}/messages",
            {"body": body, "client_msg_id": secrets.token_hex(8)},
            {},
        )

    @staticmethod
    def _post(http: httpx.Client, path: str, body: Any, headers: dict[str, str]) -> Any:
        response = http.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    def events_after(self, cursor: int) -> list[dict[str, Any]]:
        """Every event the visitor may see after ``cursor``, read back by long-poll."""
        events: list[dict[str, Any]] = []
        while True:
            response = self.http.get(
                "/api/v1/widget/events",
                params={"after": cursor, "wait": 0},
                headers=bearer(self.token),
            )
            assert response.status_code == 200, response.text
            batch = response.json()
            if not batch["events"]:
                return events
            events += batch["events"]
            cursor = batch["cursor"]

    def head(self) -> int:
        response = self.http.get(
            "/api/v1/widget/events", params={"wait": 0}, headers=bearer(self.token)
        )
        assert response.status_code == 200, response.text
        cursor: int = response.json()["cursor"]
        return cursor


@pytest.fixture
def chat(stack: Stack, owner_http: httpx.Client) -> Iterator[Chat]:
    with stack.client() as http:
        session = http.post(
            "/api/v1/widget/sessions", json={"site_key": stack.site_key, "name": "Vera"}
        )
        assert session.status_code == 201, session.text
        token = session.json()["visitor_token"]
        started = http.post(
            "/api/v1/widget/conversations",
            json={"body": "Hello", "client_msg_id": secrets.token_hex(8)},
            headers=bearer(token),
        )
        assert started.status_code == 201, started.text
        yield Chat(http, owner_http, token, started.json()["conversation"]["id"])


def browser_sign_in(url: str, owner: Operator) -> str:
    """Sign in with Chromium through the proxy; the console's URL once it is live.

    Its own Playwright in its own thread: the browser suite's session-wide Playwright
    may be running on the test thread, and the sync API allows one per thread.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            with new_page(browser, ignore_https_errors=True) as page:
                sign_in(page, url, owner)  # waits until the console is live
                expect(page.get_by_role("link", name="Account")).to_be_visible()
                return page.url
        finally:
            browser.close()


def test_browser_signs_in_through_the_proxy(stack: Stack) -> None:
    with ThreadPoolExecutor(1) as thread:
        landed = thread.submit(browser_sign_in, stack.nginx.url, stack.owner).result(timeout=60)
    assert landed == stack.nginx.url + "/admin"
    # Over TLS with HTTP/2 to nginx; chatdesk saw the browser's origin in X-Forwarded-*
    # (nginx's Host has no port), or the sign-in would have been refused.
    logged = [line for line in stack.nginx.log_lines() if "POST /api/v1/auth/login" in line]
    assert any('HTTP/2.0" 200 ' in line for line in logged), logged
    # The plain-HTTP side only redirects; /metrics is not public.
    with httpx.Client(verify=stack.tls, timeout=TIMEOUT) as plain:
        redirect = plain.get(f"http://127.0.0.1:{stack.nginx.http_port}/admin")
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://")
    with stack.client() as http:
        assert http.get("/metrics").status_code == 404


def test_sse_through_the_proxy_delivers_within_a_second(stack: Stack, chat: Chat) -> None:
    stream_http = stack.client(cookies=chat.owner_http.cookies)
    reader = StreamReader(stream_http, "/api/v1/events", {"Last-Event-ID": str(chat.head())})
    try:
        assert reader.opened.wait(10), "the stream did not open"
        delays = []
        for round_number in range(4):
            sent = time.monotonic()
            message = chat.visitor_says(f"round {round_number}")
            arrived, frame = reader.next_event()
            while frame.event != "message.created":
                arrived, frame = reader.next_event()
            assert frame.payload["data"]["message"]["id"] == message["id"]
            delays.append(arrived - sent)
        assert max(delays) < 1.0, delays
    finally:
        reader.close()
    # The POSTs went to both processes: delivery crossed processes through Redis.
    posts = [line for line in stack.nginx.log_lines() if "/messages HTTP" in line]
    upstreams = {re.search(r"upstream=(\S+)", line).group(1) for line in posts[-4:]}  # type: ignore[union-attr]
    assert upstreams == {f"127.0.0.1:{node.port}" for node in stack.nodes}, posts[-4:]


def test_a_killed_process_loses_no_event(stack: Stack, chat: Chat) -> None:
    cursor = chat.head()
    wait_until_no_streams(stack)
    reader = StreamReader(
        stack.client(),
        "/api/v1/widget/events",
        {**bearer(chat.token), "Last-Event-ID": str(cursor)},
    )
    seen: list[dict[str, Any]] = []
    try:
        assert reader.opened.wait(10), "the stream did not open"
        before = [chat.visitor_says("before 1"), chat.owner_says("before 2")]
        before.append(chat.visitor_says("before 3"))
        seen += read_messages(reader, len(before))

        holder = stream_holder(stack)
        holder.kill()  # SIGKILL: no goodbye, the stream's connection just drops
        reader.wait_ended()  # nginx passed the end on (a client would reconnect now)
    finally:
        reader.close()

    during = [chat.visitor_says("during 1"), chat.owner_says("during 2")]
    during.append(chat.visitor_says("during 3"))
    resumed = StreamReader(
        stack.client(),
        "/api/v1/widget/events",
        {**bearer(chat.token), "Last-Event-ID": str(seen[-1]["id"])},
    )
    try:
        seen += read_messages(resumed, len(during))
        after = [chat.owner_says("after 1"), chat.visitor_says("after 2")]
        seen += read_messages(resumed, len(after))
    finally:
        resumed.close()

    ids = [event["id"] for event in seen]
    assert ids == sorted(set(ids)), ids  # in order, none twice
    assert ids == [event["id"] for event in chat.events_after(cursor)]  # none missing
    bodies = [e["data"]["message"]["body"] for e in seen if e["type"] == "message.created"]
    assert bodies == [m["body"] for m in before + during + after]


def wait_until_no_streams(stack: Stack) -> None:
    deadline = time.monotonic() + 10
    while sum(node.open_streams() for node in stack.nodes) > 0:
        assert time.monotonic() < deadline, "a previous stream is still open"
        time.sleep(0.05)


def stream_holder(stack: Stack) -> Node:
    holding = [node for node in stack.nodes if node.open_streams() >= 1]
    assert len(holding) == 1, [node.open_streams() for node in stack.nodes]
    return holding[0]


def read_messages(reader: StreamReader, count: int) -> list[dict[str, Any]]:
    """Events off the stream until ``count`` messages came (other events kept too)."""
    events: list[dict[str, Any]] = []
    while sum(e["type"] == "message.created" for e in events) < count:
        _arrived, frame = reader.next_event()
        assert frame.id is not None and int(frame.id) == frame.payload["id"]
        events.append(frame.payload)
    return events
