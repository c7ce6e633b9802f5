"""Deliveries never reach what they may not (SSRF): every resolved address is checked when
chatdesk connects, redirects are not followed, answers are read only so far, slow
receivers time out. Against real receivers on loopback; private addresses refused
(``CHATDESK_WEBHOOK_ALLOW_PRIVATE`` false) unless a test says otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from chatdesk.actions.webhooks import create_webhook
from chatdesk.app import create_app
from chatdesk.clock import system_clock
from chatdesk.jobs.outbox import GiveUp, Job, RetryLater, WebhookTarget
from chatdesk.jobs.transport import (
    MAX_RESPONSE_BYTES,
    AddressRefused,
    Resolver,
    WebhookClient,
    resolve,
)
from chatdesk.jobs.webhooks import WebhookSender
from chatdesk.security.principals import OperatorActor
from chatdesk.settings import Settings
from tests.event_loops import run_coroutine
from tests.factories import add_operator, bearer, make_world, services_db
from tests.jobs.conftest import deliveries
from tests.jobs.receiver import Answer, Receiver


def _post(client: WebhookClient, url: str) -> int:
    async def go() -> int:
        try:
            return await client.post(url, [(b"Content-Type", b"application/json")], b"{}")
        finally:
            await client.aclose()

    return run_coroutine(go)


def _guarded(resolver: Resolver = resolve) -> WebhookClient:
    return WebhookClient(allow_private=False, timeout=2.0, max_connections=2, resolver=resolver)


@pytest.fixture
def other() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def test_every_refused_address_is_refused_before_connecting(receiver: Receiver) -> None:
    port = receiver.port
    for url in [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",  # a name: judged by what it resolves to
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        "http://10.1.2.3:9/",
        "http://192.168.0.10:9/",
        "http://172.20.0.1:9/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://0.0.0.0:9/",
        f"http://127.1:{port}/",
    ]:
        started = time.monotonic()
        with pytest.raises(AddressRefused) as refused:
            _post(_guarded(), url)
        assert time.monotonic() - started < 1.0, url  # no connection was tried
        assert "address" in str(refused.value), url
    assert receiver.receipts == []


def test_a_name_is_refused_if_any_of_its_addresses_is() -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]  # one public, one private (DNS answers both)

    with pytest.raises(AddressRefused, match=r"10\.0\.0\.7: a private address"):
        _post(_guarded(resolver=mixed), "http://mixed.example/")


def test_allowed_private_addresses_connect_to_the_address_checked_with_the_name_as_host(
    receiver: Receiver,
) -> None:
    resolved: list[str] = []

    async def to_loopback(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]  # this name resolves here, once

    client = WebhookClient(allow_private=True, timeout=2.0, max_connections=2, resolver=to_loopback)
    assert _post(client, f"http://hooks.example.test:{receiver.port}/in") == 200
    [receipt] = receiver.receipts
    assert receipt.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert receipt.path == "/in" and resolved == ["hooks.example.test"]


def test_redirects_are_answers_not_followed(receiver: Receiver, other: Receiver) -> None:
    for target in (f"{other.url}/private", "http://169.254.169.254/latest/meta-data/"):
        receiver.answers = [Answer(302, location=target), Answer(307, location=target)]
        client = WebhookClient(allow_private=True, timeout=2.0, max_connections=2)
        assert _post(client, f"{receiver.url}/in") == 302
        client = WebhookClient(allow_private=True, timeout=2.0, max_connections=2)
        assert _post(client, f"{receiver.url}/in") == 307
    assert other.receipts == []


def test_a_large_answer_is_read_only_so_far(receiver: Receiver) -> None:
    receiver.default = Answer(200, stream_bytes=256 * 1024 * 1024)
    client = WebhookClient(allow_private=True, timeout=5.0, max_connections=2)
    started = time.monotonic()
    assert _post(client, f"{receiver.url}/in") == 200
    assert time.monotonic() - started < 3.0
    time.sleep(0.2)
    # What the receiver got out before the client hung up: what the client read
    # (64 KiB) plus what the two kernels' socket buffers took, not the 256 MiB.
    assert MAX_RESPONSE_BYTES <= receiver.sent < 64 * 1024 * 1024


def test_a_slow_receiver_times_out(receiver: Receiver) -> None:
    receiver.default = Answer(200, delay=3.0)
    client = WebhookClient(allow_private=True, timeout=0.5, max_connections=2)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        _post(client, f"{receiver.url}/in")
    assert time.monotonic() - started < 1.5


def _send(sender: WebhookSender, job: Job) -> object:
    async def go() -> object:
        try:
            return await sender.send(job)
        except (GiveUp, RetryLater) as exc:
            return exc
        finally:
            await sender.aclose()

    return run_coroutine(go)


def test_the_sender_fails_a_refused_address_at_once_and_retries_a_redirect(
    receiver: Receiver, other: Receiver
) -> None:
    def job(url: str, attempts: int) -> Job:
        target = WebhookTarget("wh", url, "whsec_" + "A" * 32)
        return Job("msg_x", "webhook", {}, attempts, system_clock(), "t", target, '{"type":"t"}')

    refused = _send(WebhookSender(_guarded(), system_clock), job(f"{receiver.url}/", 1))
    assert isinstance(refused, GiveUp) and "loopback" in refused.reason
    receiver.default = Answer(301, location=f"{other.url}/")
    allowed = WebhookClient(allow_private=True, timeout=2.0, max_connections=2)
    first = _send(WebhookSender(allowed, system_clock), job(f"{receiver.url}/", 1))
    assert isinstance(first, RetryLater) and first.status_code == 301
    assert "redirects are not followed" in first.reason
    allowed = WebhookClient(allow_private=True, timeout=2.0, max_connections=2)
    last = _send(WebhookSender(allowed, system_clock), job(f"{receiver.url}/", 3))
    assert isinstance(last, GiveUp) and last.status_code == 301
    assert other.receipts == [] and len(receiver.receipts) == 2


def test_a_server_that_refuses_private_addresses_records_the_delivery_failed(
    settings: Settings, receiver: Receiver
) -> None:
    """The whole path: a webhook made while private addresses were allowed (as if the
    setting changed since), then deliveries with them refused."""
    quick = settings.model_copy(update={"job_poll_seconds": 0.2})
    with TestClient(create_app(quick)) as client:
        world = make_world(client)
        db = services_db(client)
        admin = add_operator(db, "admin")
        actor = OperatorActor(admin.id, "A", admin.email, "admin", None)
        urls = [f"{receiver.url}/a", f"http://localhost:{receiver.port}/b"]
        made = [
            db.write_sync(
                create_webhook, actor, url=url, events=["message.created"], allow_private=True
            )
            for url in urls
        ]
        client.app.state.services.worker.webhooks_changed()  # type: ignore[attr-defined]
        sent = client.post(
            f"/api/v1/widget/conversations/{world.conversation['id']}/messages",
            json={"body": "hello", "client_msg_id": "m-ssrf"},
            headers=bearer(world.visitor_token),
        )
        assert sent.status_code == 201
        found: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = [d for hook in made for d in deliveries(client, world.owner, hook["id"])]
            if len(found) == 2 and all(d["status"] == "failed" for d in found):
                break
            time.sleep(0.05)
        assert [(d["status"], d["attempts"]) for d in found] == [("failed", 1), ("failed", 1)]
        assert all("loopback address" in str(d["last_error"]) for d in found)
        assert all(d["last_status_code"] is None for d in found)
    assert receiver.receipts == []
