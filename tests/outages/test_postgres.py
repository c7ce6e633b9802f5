"""PostgreSQL unreachable: quick 503 ``unavailable`` with ``Retry-After``, one log line
for the outage, readiness ``failing``; service resumes by itself.

The test refuses connections to a database of its own on the real server
(``ALLOW_CONNECTIONS false``) and terminates its backends, then allows them again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from chatdesk.app import create_app
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.api.world import ApiWorld, api_world
from tests.deploy.stack import PG_ADMIN_URL, postgres_database
from tests.log_guard import LineRecorder, logged
from tests.outages.conftest import metric

METRICS = {"Authorization": "Bearer metrics-token-for-tests"}


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database("chatdesk_outage") as url:
        engine = make_engine(url, writer=True)
        upgrade(engine)
        engine.dispose()
        yield url


def refuse(name: str, *, allowed: bool) -> None:
    """Let the database accept connections or not; when not, end the ones it has."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
    finally:
        admin.dispose()


def post_message(world: ApiWorld, client_msg_id: str) -> tuple[int, float, dict[str, str], str]:
    started = time.monotonic()
    response = world.client.post(
        f"/api/v1/widget/conversations/{world.conversation['id']}/messages",
        json={"body": "Are you there?", "client_msg_id": client_msg_id},
        headers=world.visitor,
    )
    return response.status_code, time.monotonic() - started, dict(response.headers), response.text


def test_an_unreachable_database_answers_503_quickly_and_service_resumes(
    pg_url: str, recorder: LineRecorder
) -> None:
    name = pg_url.rsplit("/", 1)[1]
    settings = Settings(
        env="test",
        database_url=pg_url,
        log_format="json",
        rate_limits="off",
        event_poll_seconds=0.5,
        metrics_token="metrics-token-for-tests",
    )
    with TestClient(create_app(settings)) as client:
        world = api_world(client)
        assert post_message(world, "before")[0] == 201
        try:
            refuse(name, allowed=False)
            for attempt in range(8):
                status, took, headers, body = post_message(world, "during")
                assert status == 503, body
                assert took < 2, f"attempt {attempt} took {took:.2f} s"
                assert int(headers["retry-after"]) >= 1
                assert '"code":"unavailable"' in body.replace(" ", "")
            listing = client.get("/api/v1/conversations", headers=world.op)
            error = assert_error(listing, 503, "unavailable")
            assert error["details"]["retry_after"] == int(listing.headers["retry-after"])
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "failing"
            assert ready.json()["checks"]["database"]["status"] == "failing"
            counted = metric(
                client.get("/metrics", headers=METRICS).text,
                'chatdesk_database_unavailable_total{cause="unreachable"}',
            )
            assert counted >= 9
        finally:
            refuse(name, allowed=True)
        # Service resumes by itself: the same message, sent again, is stored once.
        deadline = time.monotonic() + 15
        while (status := post_message(world, "during")[0]) != 201:
            assert status == 503 and time.monotonic() < deadline
            time.sleep(0.2)
        assert post_message(world, "during")[0] == 200  # the retry is a repeat, not a copy
        messages = client.get(
            f"/api/v1/conversations/{world.conversation['id']}/messages", headers=world.op
        ).json()["messages"]
        bodies = [m["client_msg_id"] for m in messages if m["author"]["type"] == "visitor"]
        assert bodies.count("during") == 1 and bodies.count("before") == 1
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
    # One line when the outage began and one when the database answered again; no
    # traceback, however many requests failed.
    assert len(logged(recorder, "database unavailable (unreachable)")) == 1, recorder.lines
    assert len(logged(recorder, "database available again")) == 1, recorder.lines
    assert not logged(recorder, "Traceback") and not logged(recorder, "unhandled error")
