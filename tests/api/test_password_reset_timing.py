"""Asking for a reset link takes as long for an unknown email as for a known one (ADR
0023): the known path only queues the email in the outbox (sent off the request, by
the worker, to a real SMTP server here), and both spend one password hash's time.
Medians over interleaved requests, so drift of a shared machine hits both alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatdesk.app import create_app
from chatdesk.db.tables import outbox
from chatdesk.settings import Settings
from tests.email.conftest import Sink, email_settings, plain_sink
from tests.factories import add_operator, services_db

ROUNDS = 21


@pytest.fixture
def sink() -> Iterator[Sink]:
    yield from plain_sink()


@pytest.fixture
def mailing(settings: Settings, sink: Sink) -> Iterator[TestClient]:
    on = email_settings(
        settings,
        sink.url,
        rate_limit_password_reset_ip="1000/hour",
        rate_limit_password_reset_account="1000/hour",
    )
    with TestClient(create_app(on)) as client:
        yield client


def _timed(client: TestClient, email: str) -> float:
    started = time.perf_counter()
    answer = client.post("/api/v1/auth/password-reset", json={"email": email})
    elapsed = time.perf_counter() - started
    assert answer.status_code == 202 and answer.content == b""
    return elapsed


def test_known_and_unknown_emails_answer_in_about_the_same_time(mailing: TestClient) -> None:
    known = add_operator(services_db(mailing), "agent").email
    _timed(mailing, known), _timed(mailing, "warm-up@example.com")  # first-call costs
    known_times, unknown_times = [], []
    for index in range(ROUNDS):
        # Interleaved, and which goes first alternates.
        pair = [(known, known_times), (f"nobody-{index}@example.com", unknown_times)]
        for email, times in pair if index % 2 == 0 else reversed(pair):
            times.append(_timed(mailing, email))
    known_median = statistics.median(known_times)
    unknown_median = statistics.median(unknown_times)
    print(
        f"password reset medians: known {known_median * 1000:.1f} ms, "
        f"unknown {unknown_median * 1000:.1f} ms over {ROUNDS} each"
    )
    # Within 40 % of the faster one (or 30 ms): a busy machine (both test passes side by
    # side) once measured 211 against 268 ms; an oracle (a hash, a send inline) is twice.
    margin = max(0.4 * min(known_median, unknown_median), 0.030)
    assert abs(known_median - unknown_median) < margin, (known_median, unknown_median)
    # The known address really was given a link each time: queued, not sent inline.
    queued = services_db(mailing).read_sync(lambda conn: conn.execute(select(outbox.c.id)).all())
    assert len(queued) >= ROUNDS
