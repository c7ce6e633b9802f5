"""Timed work on exactly one process: two ``chatdesk serve`` processes on one PostgreSQL
database with Redis, snoozes falling due, each woken once (one conversation.updated and
one timeline entry), and taken over by the other when the lease's holder dies; and the
scheduler's lease, taken by one holder at a time."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.runner import Database
from chatdesk.db.tables import meta
from chatdesk.jobs.lease import take_lease
from tests.deploy.stack import postgres_database
from tests.factories import add_operator
from tests.jobs.conftest import until
from tests.jobs.test_processes import _visitor
from tests.realtime.conftest import REDIS_URL
from tests.test_serve import _env
from tests.test_shutdown import _start

QUICK = {
    "CHATDESK_RATE_LIMITS": "off",
    "CHATDESK_SCHEDULER_POLL_SECONDS": "0.2",
    "CHATDESK_SCHEDULER_LEASE_SECONDS": "2",
    "CHATDESK_EVENT_POLL_SECONDS": "0.2",
}


def _sign_in(url: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    signed = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert signed.status_code == 200, signed.text
    client.headers["x-csrf-token"] = signed.json()["csrf_token"]
    return client


def _holder_pid(url: str) -> int:
    """The pid of the process holding the scheduler's lease (``host:pid:nonce expiry``)."""
    engine = make_engine(url, writer=True)
    try:
        with engine.connect() as conn:
            value = conn.execute(
                select(meta.c.value).where(meta.c.key == "lease:scheduler")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(value.split(" ")[0].split(":")[1])


def _events(operator: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = operator.get("/api/v1/events", params={"after": cursor, "wait": 0}).json()
        found += page["events"]
        if not page["events"]:
            return found
        cursor = page["cursor"]


@pytest.mark.live
@pytest.mark.redis
def test_two_servers_wake_each_snooze_exactly_once(tmp_path: Path) -> None:
    with postgres_database("chatdesk_snooze") as url:
        engine = make_engine(url, writer=True)
        upgrade(engine)
        engine.dispose()
        db = Database(url)
        db.start()
        try:
            owner = add_operator(db, "owner")
        finally:
            db.stop()
        env = _env(CHATDESK_DATABASE_URL=url, CHATDESK_REDIS_URL=REDIS_URL, **QUICK)
        servers = [_start(tmp_path, env, name) for name in ("one", "two")]
        try:
            operators = [_sign_in(s.url, owner.email, owner.password) for s in servers]
            site = operators[0].post("/api/v1/sites", json={"name": "Shop"}).json()
            ids: list[str] = []
            for n in range(6):  # snoozed on either server, due within ~2 s
                visitor = _visitor(servers[n % 2], site["site_key"])
                opened = visitor.post(
                    "/api/v1/widget/conversations", json={"body": "Hi", "client_msg_id": f"s{n}"}
                )
                assert opened.status_code == 201, opened.text
                ids.append(opened.json()["conversation"]["id"])
                visitor.close()
            due = datetime.now(UTC) + timedelta(seconds=2)
            for n, cid in enumerate(ids):
                body = {"status": "snoozed", "snoozed_until": due.isoformat()}
                answer = operators[n % 2].patch(f"/api/v1/conversations/{cid}", json=body)
                assert answer.status_code == 200, answer.text

            def all_open() -> bool:
                listed = operators[1].get("/api/v1/conversations", params={"status": "snoozed"})
                return listed.json()["conversations"] == []

            until("every snooze woke", all_open, timeout=20)
            time.sleep(1.5)  # a second wake, by the other process, would be written now
            events = _events(operators[0])
            for cid in ids:
                woke = [
                    e
                    for e in events
                    if e["conversation_id"] == cid
                    and e["type"] == "conversation.updated"
                    and e["data"]["changes"] == ["status"]
                    and e["data"]["conversation"]["status"] == "open"
                ]
                assert len(woke) == 1, (cid, woke)
                history = operators[1].get(f"/api/v1/conversations/{cid}/messages").json()
                entries = [m for m in history["messages"] if m.get("kind") == "woke"]
                assert len(entries) == 1 and entries[0]["data"]["reason"] == "time"
                woke_at = datetime.fromisoformat(woke[0]["created_at"])
                assert woke_at >= due  # never early

            # The lease's holder dies: the other server takes timed work over.
            holder = _holder_pid(url)
            (dead,) = [n for n, s in enumerate(servers) if s.process.pid == holder]
            servers[dead].process.send_signal(signal.SIGKILL)
            servers[dead].process.wait(timeout=10)
            alive = operators[1 - dead]
            soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
            cid = ids[0]
            body = {"status": "snoozed", "snoozed_until": soon}
            assert alive.patch(f"/api/v1/conversations/{cid}", json=body).status_code == 200

            def woke_again() -> bool:
                got = alive.get(f"/api/v1/conversations/{cid}").json()
                return bool(got["status"] == "open")

            until("the survivor woke the snooze", woke_again, timeout=20)
            assert _holder_pid(url) == servers[1 - dead].process.pid
            for operator in operators:
                operator.close()
        finally:
            for server in servers:
                if server.process.poll() is None:
                    server.process.send_signal(signal.SIGTERM)
            for server in servers:
                server.process.wait(timeout=10)


def test_the_lease_has_one_holder_until_it_runs_out(database_url: str) -> None:
    engine = make_engine(database_url, writer=True)
    upgrade(engine)
    engine.dispose()
    now = [datetime(2026, 5, 1, 9, 0, tzinfo=UTC)]
    db = Database(database_url, clock=lambda: now[0])
    db.start()
    try:
        take = lambda holder: db.write_sync(take_lease, "test", holder, 10.0)  # noqa: E731
        assert take("a") is True
        assert take("b") is False  # a holds it
        assert take("a") is True  # renewed
        now[0] += timedelta(seconds=9)
        assert take("b") is False
        now[0] += timedelta(seconds=2)  # a's renewal ran out: b takes it over
        assert take("b") is True
        assert take("a") is False
    finally:
        db.stop()
