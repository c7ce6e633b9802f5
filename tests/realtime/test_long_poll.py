"""JSON long-poll: immediate answers, parking, timeouts, bad and expired cursors."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from chatdesk.actions.maintenance import purge_events
from chatdesk.cli import app as cli_app
from chatdesk.db.runner import Database
from tests.realtime.conftest import Scene, delivery_delays, head_of, poll, wait_until

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"


def test_returns_at_once_when_events_exist_after_the_cursor(scene: Scene) -> None:
    started = time.monotonic()
    got = poll(scene.visitor_http, WIDGET, scene.visitor_headers(), 0, wait=20)
    assert time.monotonic() - started < 2
    assert [e["type"] for e in got["events"]] == ["conversation.created", "message.created"]
    assert got["cursor"] == got["events"][-1]["id"]
    ids = [e["id"] for e in got["events"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize("who", ["visitor", "operator"])
def test_parked_poll_returns_quickly_when_the_other_party_writes(scene: Scene, who: str) -> None:
    if who == "visitor":
        http, path, headers = scene.visitor_http, WIDGET, scene.visitor_headers()
        delays = delivery_delays(
            scene.live, http, path, headers, lambda: scene.operator_says("On my way")
        )
    else:
        delays = delivery_delays(
            scene.live, scene.owner_http, CONSOLE, {}, lambda: scene.visitor_says("Hi")
        )
    # Faster than the log poll (0.5 s) could explain: the wake-up did it.
    median = delays[len(delays) // 2]
    assert median < 0.1, f"long-poll woke after {[round(d * 1000) for d in delays]} ms"
    assert delays[-1] < 2


def test_returns_empty_with_the_same_cursor_after_wait(scene: Scene) -> None:
    cursor = head_of(scene.visitor_http, WIDGET, scene.visitor_headers())
    started = time.monotonic()
    got = poll(scene.visitor_http, WIDGET, scene.visitor_headers(), cursor, wait=1)
    elapsed = time.monotonic() - started
    assert got == {"events": [], "cursor": cursor}
    assert 0.95 <= elapsed < 3


def test_after_omitted_returns_empty_and_the_head(scene: Scene) -> None:
    everything = poll(scene.owner_http, CONSOLE, {}, 0)
    head = everything["events"][-1]["id"]
    started = time.monotonic()
    got = poll(scene.owner_http, CONSOLE, {}, None, wait=20)
    assert time.monotonic() - started < 2
    assert got == {"events": [], "cursor": head}
    # The visitor's "now" is the same head, even though it sees fewer events.
    assert poll(scene.visitor_http, WIDGET, scene.visitor_headers(), None)["cursor"] == head


MALFORMED = ["-1", "abc", "1.5", "", "99999999999999999999999999", str(2**63), "0x10", "1e3"]


def test_malformed_cursor_is_422(scene: Scene) -> None:
    for after in MALFORMED:
        for http, path, headers in (
            (scene.visitor_http, WIDGET, scene.visitor_headers()),
            (scene.owner_http, CONSOLE, {}),
        ):
            response = http.get(path, params={"after": after, "wait": 0}, headers=headers)
            assert response.status_code == 422, (after, response.text)
            assert response.json()["error"]["code"] == "validation_error"


def test_bad_wait_is_422(scene: Scene) -> None:
    for wait in ["-1", "56", "abc", "nan", "inf"]:
        response = scene.visitor_http.get(
            WIDGET, params={"after": 0, "wait": wait}, headers=scene.visitor_headers()
        )
        assert response.status_code == 422, (wait, response.text)
        assert response.json()["error"]["code"] == "validation_error"


def expect_expired(scene: Scene, after: int) -> None:
    for http, path, headers in (
        (scene.visitor_http, WIDGET, scene.visitor_headers()),
        (scene.owner_http, CONSOLE, {}),
    ):
        response = http.get(path, params={"after": after, "wait": 5}, headers=headers)
        assert response.status_code == 410, response.text
        assert response.json()["error"]["code"] == "cursor_expired"
        sse = http.get(
            path, params={"after": after}, headers={**headers, "Accept": "text/event-stream"}
        )
        assert sse.status_code == 410, sse.text
        assert sse.json()["error"]["code"] == "cursor_expired"


def test_cursor_above_the_head_is_expired(scene: Scene) -> None:
    head = head_of(scene.owner_http, CONSOLE, {})
    expect_expired(scene, head + 1)
    expect_expired(scene, 2**62)


def test_cursor_below_the_purged_point_is_expired(scene: Scene) -> None:
    settings = scene.live.settings
    before_purge = head_of(scene.owner_http, CONSOLE, {})
    db = Database(settings.database_url)
    db.start()
    try:
        # Everything so far is "old": purge with a cut just after now.
        removed = db.write_sync(purge_events, db.clock() + timedelta(seconds=1))
    finally:
        db.stop()
    assert removed == before_purge
    expect_expired(scene, 0)
    expect_expired(scene, before_purge - 1)
    # The purge point itself is still a good cursor: nothing after it was lost.
    assert poll(scene.owner_http, CONSOLE, {}, before_purge) == {
        "events": [],
        "cursor": before_purge,
    }
    # A client told 410 restarts from "now" and then follows new events normally.
    fresh = head_of(scene.visitor_http, WIDGET, scene.visitor_headers())
    assert fresh == before_purge
    message = scene.operator_says("Still here")
    got = poll(scene.visitor_http, WIDGET, scene.visitor_headers(), fresh, wait=5)
    assert [e["data"]["message"]["id"] for e in got["events"]] == [message["id"]]
    assert got["events"][0]["id"] > before_purge


def test_purge_cli_days_zero_expires_old_cursors(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_page: dict[str, Any] = poll(scene.owner_http, CONSOLE, {}, 0)
    oldest = first_page["events"][0]["id"]
    time.sleep(0.01)  # the cut is "older than now": make the existing events strictly older
    monkeypatch.setenv("CHATDESK_DATABASE_URL", scene.live.settings.database_url)
    result = CliRunner().invoke(cli_app, ["purge", "--days", "0"])
    assert result.exit_code == 0, result.output
    assert "Removed" in result.output
    expect_expired(scene, oldest)
    message = scene.visitor_says("After the purge")
    head = first_page["cursor"]
    got = poll(scene.owner_http, CONSOLE, {}, head, wait=5)
    assert [e["data"]["message"]["id"] for e in got["events"]] == [message["id"]]


def test_parked_requests_hold_no_database_connection(scene: Scene) -> None:
    live = scene.live
    headers = scene.visitor_headers()
    cursor = head_of(scene.visitor_http, WIDGET, headers)
    sse = {**headers, "Accept": "text/event-stream"}
    with ThreadPoolExecutor(12) as pool, scene.visitor_http.stream("GET", WIDGET, headers=sse):
        polls = [
            pool.submit(poll, scene.visitor_http, WIDGET, headers, cursor, 20) for _ in range(12)
        ]
        wait_until(lambda: live.parked() >= 13, what="12 polls and a stream to park")
        # The server's own background readers (the log's slow poll, the outbox worker)
        # take a connection now and then, briefly; thirteen parked requests holding one
        # each would never let the pools be empty.
        pools = [live.db.read_engine.pool, live.db.write_engine.pool]
        wait_until(
            lambda: all(pool.checkedout() == 0 for pool in pools),  # type: ignore[attr-defined]
            timeout=3,
            what="no connection checked out while everything is parked",
        )
        reply = scene.operator_says("to everyone parked")
        for future in polls:
            assert [e["data"]["message"]["id"] for e in future.result(timeout=10)["events"]] == [
                reply["id"]
            ]
    wait_until(lambda: live.parked() == 0, what="every listener to leave the hub")
