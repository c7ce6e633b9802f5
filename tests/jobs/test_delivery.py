"""Webhook deliveries end to end: a message posted through the API reaches a real HTTP
receiver on loopback, signed as Standard Webhooks says, retried with the same id."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.factories import bearer, make_world
from tests.jobs.conftest import add_webhook, deliveries
from tests.jobs.receiver import Answer, Receiver, verified


@pytest.fixture
def client(job_settings: Settings) -> TestClient:
    watched = job_settings.model_copy(
        update={"metrics_token": SecretStr("metrics-token-for-tests")}
    )
    with TestClient(create_app(watched)) as test_client:
        yield test_client


def _post(client: TestClient, token: str, conversation_id: str, body: str) -> None:
    response = client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"body": body, "client_msg_id": body.replace(" ", "-")},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text


def test_a_failing_receiver_gets_the_same_signed_delivery_until_it_succeeds(
    client: TestClient, receiver: Receiver
) -> None:
    world = make_world(client)
    receiver.answers = [Answer(500), Answer(503), Answer(429)]
    hook = add_webhook(client, world.owner, f"{receiver.url}/hook")
    _post(client, world.visitor_token, world.conversation["id"], "where is my order")
    receiver.wait_for(lambda r: len(r.receipts) >= 4)
    by_id = receiver.receipts_by_id()
    assert len(by_id) == 1
    [(job_id, receipts)] = by_id.items()
    assert job_id.startswith("msg_") and len(receipts) == 4
    for receipt in receipts:
        body = verified(receipt, hook["secret"])
        assert receipt.path == "/hook"
        assert body["type"] == "message.created"
        assert body["data"]["message"]["body"] == "where is my order"
        assert body["site_id"] == world.site["id"]
        assert body["conversation_id"] == world.conversation["id"]
    deadline = time.monotonic() + 5
    while True:
        [delivery] = deliveries(client, world.owner, hook["id"])
        if delivery["status"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert delivery["id"] == job_id
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 4
    assert delivery["last_status_code"] == 200
    metrics = client.get("/metrics", headers=bearer("metrics-token-for-tests")).text
    for line in (
        'chatdesk_jobs_enqueued_total{kind="webhook"} 1.0',
        'chatdesk_jobs_retried_total{kind="webhook"} 3.0',
        'chatdesk_jobs_delivered_total{kind="webhook"} 1.0',
        "chatdesk_jobs_in_flight 0.0",
    ):
        assert line in metrics.splitlines(), line
    assert "chatdesk_outbox_pending " in metrics
    assert "chatdesk_outbox_oldest_pending_seconds " in metrics


def test_an_idle_worker_writes_nothing_and_messages_without_webhooks_dispatch_nothing(
    job_settings: Settings, tmp_path: Path
) -> None:
    """No tight polling: with nothing to send, the worker only reads (every
    ``CHATDESK_JOB_POLL_SECONDS``, 0.2 s here); without an active webhook, new messages
    start no dispatcher."""
    path = tmp_path / "idle.db"  # SQLite's data_version counts commits; the same code on both
    idle = job_settings.model_copy(update={"database_url": f"sqlite:///{path}"})
    with TestClient(create_app(idle)) as client:
        world = make_world(client)
        _post(client, world.visitor_token, world.conversation["id"], "no webhook here")
        time.sleep(0.5)
        watcher = sqlite3.connect(path)
        before = watcher.execute("PRAGMA data_version").fetchone()[0]
        time.sleep(1.5)  # about seven looks at the outbox
        after = watcher.execute("PRAGMA data_version").fetchone()[0]
        cursor = watcher.execute(
            "SELECT count(*) FROM meta WHERE key = 'webhooks_dispatched_through'"
        ).fetchone()[0]
        watcher.close()
        worker = client.app.state.services.worker  # type: ignore[attr-defined]
        assert worker.state is not None and worker.state.pending == 0
    assert after == before  # nobody committed anything while idle
    assert cursor == 0  # the dispatcher never ran
