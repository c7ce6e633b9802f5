"""The outbox across real ``chatdesk serve`` processes: a server killed with SIGKILL while
jobs wait loses none and sends each once after its restart; two servers on one
PostgreSQL database never send the same job twice."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.runner import Database
from tests.conftest import free_port
from tests.deploy.stack import postgres_database
from tests.factories import add_operator
from tests.jobs.conftest import until
from tests.jobs.receiver import Answer, Receiver
from tests.test_serve import _env
from tests.test_shutdown import Running, _sign_in, _start

QUICK_JOBS = {
    "CHATDESK_RATE_LIMITS": "off",
    "CHATDESK_WEBHOOK_ALLOW_PRIVATE": "true",
    "CHATDESK_JOB_POLL_SECONDS": "0.2",
    "CHATDESK_JOB_LEASE_SECONDS": "3",
    "CHATDESK_JOB_RETRY_BASE_SECONDS": "0.1",
    "CHATDESK_JOB_RETRY_MAX_SECONDS": "0.5",
    "CHATDESK_JOB_MAX_ATTEMPTS": "1000",
    "CHATDESK_WEBHOOK_TIMEOUT_SECONDS": "2",
    "CHATDESK_EVENT_POLL_SECONDS": "0.2",
}


def _visitor(server: Running, site_key: str) -> httpx.Client:
    visitor = httpx.Client(base_url=server.url, timeout=10)
    session = visitor.post("/api/v1/widget/sessions", json={"site_key": site_key})
    assert session.status_code == 201, session.text
    visitor.headers["authorization"] = f"Bearer {session.json()['visitor_token']}"
    return visitor


def _chat(visitor: httpx.Client, messages: int, tag: str) -> None:
    opened = visitor.post(
        "/api/v1/widget/conversations", json={"body": f"{tag} 0", "client_msg_id": f"{tag}-0"}
    )
    assert opened.status_code == 201, opened.text
    cid = opened.json()["conversation"]["id"]
    for n in range(1, messages):
        sent = visitor.post(
            f"/api/v1/widget/conversations/{cid}/messages",
            json={"body": f"{tag} {n}", "client_msg_id": f"{tag}-{n}"},
        )
        assert sent.status_code == 201, sent.text


def _deliveries(operator: httpx.Client, webhook_id: str) -> list[dict[str, Any]]:
    answer = operator.get(f"/api/v1/webhooks/{webhook_id}/deliveries", params={"limit": 200})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


@pytest.fixture
def serve_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield _env(CHATDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'chatdesk.db'}", **QUICK_JOBS)


@pytest.mark.live
def test_a_killed_server_loses_no_job_and_sends_each_once_after_restart(
    tmp_path: Path, serve_env: dict[str, str]
) -> None:
    receiver_port = free_port()  # nobody listens there yet: every attempt fails to connect
    server = _start(tmp_path, serve_env, "first")
    printed = server.log.read_text()
    try:
        operator = _sign_in(server, printed)
        site = operator.post("/api/v1/sites", json={"name": "Shop"}).json()
        hook = operator.post(
            "/api/v1/webhooks",
            json={
                "url": f"http://127.0.0.1:{receiver_port}/hook",
                "events": ["conversation.created", "message.created"],
            },
        )
        assert hook.status_code == 201, hook.text
        webhook_id = hook.json()["id"]
        _chat(_visitor(server, site["site_key"]), 15, "a")
        _chat(_visitor(server, site["site_key"]), 15, "b")

        # Every delivery is queued and has been tried at least once, in vain.
        def tried() -> list[dict[str, Any]] | None:
            found = _deliveries(operator, webhook_id)
            return found if len(found) == 32 and all(d["attempts"] >= 1 for d in found) else None

        queued = until("32 deliveries were tried", tried)
        assert len(queued) == 32 and {d["status"] for d in queued} == {"pending"}
        operator.close()
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
    receiver = Receiver().start(receiver_port)
    again = _start(tmp_path, serve_env, "again")
    try:
        operator = _sign_in(again, printed)
        receiver.wait_for(lambda r: len(r.receipts_by_id()) >= 32, timeout=60)
        done = until(
            "every delivery is recorded delivered",
            lambda: all(d["status"] == "delivered" for d in _deliveries(operator, webhook_id)),
        )
        assert done
        time.sleep(1.0)  # a duplicate would arrive now
        by_id = receiver.receipts_by_id()
        assert sorted(by_id) == sorted(d["id"] for d in _deliveries(operator, webhook_id))
        assert {len(receipts) for receipts in by_id.values()} == {1}
        bodies = [
            r.json()["data"] for r in receiver.receipts if r.json()["type"] != "message.created"
        ]
        assert len(bodies) == 2  # the two conversations' creations
        operator.close()
    finally:
        receiver.stop()
        again.process.send_signal(signal.SIGTERM)
        again.process.wait(timeout=10)


def _delivered_by(server: Running) -> float:
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(r'^chatdesk_jobs_delivered_total\{kind="webhook"\} (\S+)', metrics, re.M)
    return float(found[1]) if found else 0.0


@pytest.mark.live
def test_two_servers_on_postgresql_never_send_a_job_twice(tmp_path: Path) -> None:
    receiver = Receiver(default=Answer(200, delay=0.02)).start()
    with postgres_database("chatdesk_outbox") as url:
        engine = make_engine(url, writer=True)
        upgrade(engine)
        engine.dispose()
        db = Database(url)
        db.start()
        try:
            owner = add_operator(db, "owner")
        finally:
            db.stop()
        env = _env(CHATDESK_DATABASE_URL=url, CHATDESK_JOB_CONCURRENCY="4", **QUICK_JOBS)
        servers = [_start(tmp_path, env, name) for name in ("one", "two")]
        try:
            operator = httpx.Client(base_url=servers[0].url, timeout=10)
            signed = operator.post(
                "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
            )
            operator.headers["x-csrf-token"] = signed.json()["csrf_token"]
            site = operator.post("/api/v1/sites", json={"name": "Shop"}).json()
            made = operator.post(
                "/api/v1/webhooks",
                json={"url": f"{receiver.url}/hook", "events": ["message.created"]},
            )
            assert made.status_code == 201, made.text
            for server, tag in ((servers[0], "x"), (servers[1], "y"), (servers[0], "z")):
                _chat(_visitor(server, site["site_key"]), 40, tag)
            receiver.wait_for(lambda r: len(r.receipts_by_id()) >= 120, timeout=60)
            time.sleep(1.5)  # a second send of any job would arrive now
            by_id = receiver.receipts_by_id()
            assert len(by_id) == 120
            assert len(receiver.receipts) == 120  # no job reached the receiver twice
            delivered = [_delivered_by(server) for server in servers]
            assert sum(delivered) == 120
            assert all(count > 0 for count in delivered), delivered  # both drained it
            operator.close()
        finally:
            for server in servers:
                server.process.send_signal(signal.SIGTERM)
            for server in servers:
                server.process.wait(timeout=10)
            receiver.stop()


@pytest.mark.live
def test_sigterm_with_a_delivery_in_flight_stops_in_time_and_releases_it(
    tmp_path: Path, serve_env: dict[str, str]
) -> None:
    receiver = Receiver(default=Answer(200, delay=30)).start()  # answers far too late
    # A long lease: only a release at the stop lets the restarted server send it at once.
    serve_env = {**serve_env, "CHATDESK_JOB_LEASE_SECONDS": "60"}
    server = _start(tmp_path, serve_env, "first")
    printed = server.log.read_text()
    try:
        operator = _sign_in(server, printed)
        site = operator.post("/api/v1/sites", json={"name": "Shop"}).json()
        made = operator.post(
            "/api/v1/webhooks", json={"url": f"{receiver.url}/hook", "events": ["message.created"]}
        )
        assert made.status_code == 201, made.text
        _chat(_visitor(server, site["site_key"]), 1, "t")
        receiver.wait_for(lambda r: len(r.receipts) == 1)  # the delivery is in flight
        operator.close()
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=10)
        took = time.monotonic() - signalled
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    assert code == 0, server.log.read_text()
    assert took < 5, took
    receiver.default = Answer(204)
    again = _start(tmp_path, serve_env, "again")
    try:
        # Released at the stop, not held until its lease ends: sent again at once.
        receiver.wait_for(lambda r: len(r.receipts) == 2, timeout=2.5)
        first, second = receiver.receipts
        assert first.webhook_id == second.webhook_id
    finally:
        receiver.stop()
        again.process.send_signal(signal.SIGTERM)
        again.process.wait(timeout=10)
