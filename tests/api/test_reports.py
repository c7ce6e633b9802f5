"""Reports over HTTP (ADR 0026), against figures worked out by hand from a small world
built through the real API on an injected clock: time zones across the night Europe/Paris
moves to summer time, business hours, a reopened conversation, ratings, the sites an
agent may see, CSV, and bad parameters."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.expect import assert_error
from tests.api.world import api_token, new_site, quick_operator
from tests.factories import FakeClock, bearer, csrf, login, start_conversation, visitor_token

SUMMARY = "/api/v1/reports/summary"
SERIES = "/api/v1/reports/timeseries"
# Europe/Paris moves from +01:00 to +02:00 at 2026-03-29 01:00 UTC (02:00 local).
PARIS = "Europe/Paris"
WEEKDAYS_9_TO_5 = {
    "timezone": PARIS,
    "days": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))


@dataclass
class Reports:
    client: TestClient
    clock: FakeClock
    admin: dict[str, str]
    agent_http: TestClient  # signed in as site B's agent
    agent_b_id: str
    owner_id: str
    site_a: str
    site_b: str
    ids: dict[str, str]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _start(world: Reports, site_key: str, when: str) -> str:
    world.clock.now = _at(when)
    token = visitor_token(world.client, site_key, name="V")
    conversation_id: str = start_conversation(world.client, token)["conversation"]["id"]
    world.ids[conversation_id] = token
    return conversation_id


def _later(world: Reports, seconds: int, since: str) -> None:
    world.clock.now = _at(since) + timedelta(seconds=seconds)


def _reply(
    world: Reports,
    cid: str,
    headers: dict[str, str],
    *,
    private: bool = False,
    http: TestClient | None = None,
) -> None:
    body = {"body": "On it", "client_msg_id": secrets.token_hex(8), "private": private}
    sent = (http or world.client).post(
        f"/api/v1/conversations/{cid}/messages", json=body, headers=headers
    )
    assert sent.status_code == 201, sent.text


def _status(world: Reports, cid: str, status: str) -> None:
    done = world.client.patch(
        f"/api/v1/conversations/{cid}", json={"status": status}, headers=world.admin
    )
    assert done.status_code == 200, done.text


def _visitor_writes(world: Reports, cid: str) -> None:
    body = {"body": "Still broken", "client_msg_id": secrets.token_hex(8)}
    sent = world.client.post(
        f"/api/v1/widget/conversations/{cid}/messages", json=body, headers=bearer(world.ids[cid])
    )
    assert sent.status_code == 201, sent.text


def _rate(world: Reports, cid: str, score: int, comment: str | None = None) -> None:
    body: dict[str, Any] = {"score": score}
    if comment is not None:
        body["comment"] = comment
    rated = world.client.post(
        f"/api/v1/widget/conversations/{cid}/rating", json=body, headers=bearer(world.ids[cid])
    )
    assert rated.status_code == 201, rated.text


@pytest.fixture
def world(tclient: TestClient, clock: FakeClock) -> Reports:
    """Four conversations (times UTC; Paris local time in brackets):

    c1 site A  2026-03-28 23:30 (Sun 00:30 +01)  reply +120 s, resolved +600 s, rated 5
    c2 site A  2026-03-29 00:30 (Sun 01:30 +01)  note +10 s, reply +300 s, resolved +1000 s,
               reopened by the visitor +1100 s, resolved again +2000 s, rated 3
    c3 site B  2026-03-29 01:30 (Sun 03:30 +02)  reply by site B's agent +60 s, open
    c4 site A  2026-03-30 08:00 (Mon 10:00 +02)  reply +30 s, resolved +90 s, rated 1 "=cmd"

    Site A has business hours (weekdays 09-17 Paris), site B none (always open).
    """
    owner = quick_operator(tclient, "owner", name="Olga Owner")
    admin = bearer(api_token(tclient, owner))
    site_a = new_site(tclient, admin, name="Shop A", business_hours=WEEKDAYS_9_TO_5)
    site_b = new_site(tclient, admin, name="Shop B")
    agent = quick_operator(tclient, "agent", name="Bea Agent", site_ids=[site_b["id"]])
    agent_http = TestClient(tclient.app)
    w = Reports(
        tclient, clock, admin, agent_http, agent.id, owner.id, site_a["id"], site_b["id"], {}
    )
    key_a, key_b = site_a["site_key"], site_b["site_key"]

    c1 = _start(w, key_a, "2026-03-28T23:30:00Z")
    _later(w, 120, "2026-03-28T23:30:00Z")
    _reply(w, c1, admin)
    _later(w, 600, "2026-03-28T23:30:00Z")
    _status(w, c1, "resolved")
    _rate(w, c1, 5, "Great")

    c2 = _start(w, key_a, "2026-03-29T00:30:00Z")
    _later(w, 10, "2026-03-29T00:30:00Z")
    _reply(w, c2, admin, private=True)  # a note is no response
    _later(w, 300, "2026-03-29T00:30:00Z")
    _reply(w, c2, admin)
    _later(w, 400, "2026-03-29T00:30:00Z")
    _reply(w, c2, admin)  # a second reply changes nothing
    _later(w, 1000, "2026-03-29T00:30:00Z")
    _status(w, c2, "resolved")
    _later(w, 1100, "2026-03-29T00:30:00Z")
    _visitor_writes(w, c2)
    _later(w, 2000, "2026-03-29T00:30:00Z")
    _status(w, c2, "resolved")
    _rate(w, c2, 3)

    c3 = _start(w, key_b, "2026-03-29T01:30:00Z")
    _later(w, 60, "2026-03-29T01:30:00Z")
    login(agent_http, agent)  # sessions end when idle: signed in when it acts
    _reply(w, c3, csrf(agent), http=agent_http)

    c4 = _start(w, key_a, "2026-03-30T08:00:00Z")
    _later(w, 30, "2026-03-30T08:00:00Z")
    _reply(w, c4, admin)
    _later(w, 90, "2026-03-30T08:00:00Z")
    _status(w, c4, "resolved")
    _rate(w, c4, 1, "=cmd")
    w.clock.now = _at("2026-04-02T12:00:00Z")
    login(agent_http, agent)
    return w


def _get(world: Reports, path: str, agent: bool = False, **params: Any) -> Any:
    if agent:
        found = world.agent_http.get(path, params=params)
    else:
        found = world.client.get(path, params=params, headers=world.admin)
    assert found.status_code == 200, found.text
    return found.json()


WHOLE = {"from": "2026-03-28", "to": "2026-03-30", "tz": PARIS}


def test_the_summary_counts_what_was_stored_when_it_happened(world: Reports) -> None:
    summary = _get(world, SUMMARY, **WHOLE)
    # Public messages: c1 2, c2 4 (the note is not one), c3 2, c4 2.
    assert summary == {
        "conversations": 4,
        "messages": 10,
        # [30, 60, 120, 300]: the mean of the middle two; the 4th of 4 (nearest rank).
        "first_response_seconds": {"median": 90.0, "p90": 300.0},
        # c2 counts from its start to its last resolution: [90, 600, 2000].
        "resolution_seconds": {"median": 600.0, "p90": 2000.0},
        "csat": {"average": 3.0, "count": 3},
    }


def test_a_reopened_conversation_has_no_resolution_until_resolved_again(
    world: Reports,
) -> None:
    cid = next(c for c in world.ids if c != next(iter(world.ids)))  # c2
    _status(world, cid, "open")
    summary = _get(world, SUMMARY, **WHOLE)
    assert summary["resolution_seconds"] == {"median": 345.0, "p90": 600.0}  # [90, 600]
    assert summary["first_response_seconds"]["median"] == 90.0  # the first reply stays


def test_days_and_hours_are_the_viewers(world: Reports) -> None:
    paris = _get(world, SERIES, metric="conversations", interval="day", **WHOLE)["points"]
    assert [(p["t"], p["local"], p["value"]) for p in paris] == [
        ("2026-03-27T23:00:00Z", "2026-03-28T00:00:00+01:00", 0),
        ("2026-03-28T23:00:00Z", "2026-03-29T00:00:00+01:00", 3),  # 23 hours long
        ("2026-03-29T22:00:00Z", "2026-03-30T00:00:00+02:00", 1),
    ]
    utc = _get(world, SERIES, metric="conversations", interval="day", **{**WHOLE, "tz": "UTC"})
    assert [p["value"] for p in utc["points"]] == [1, 2, 1]
    # The night of the change: local 00:00, 01:00, then 03:00 (02:00 never happens).
    night = {"from": "2026-03-29T00:00:00+01:00", "to": "2026-03-29T04:00:00+02:00", "tz": PARIS}
    hours = _get(world, SERIES, metric="conversations", interval="hour", **night)["points"]
    assert [(p["local"], p["value"]) for p in hours] == [
        ("2026-03-29T00:00:00+01:00", 1),
        ("2026-03-29T01:00:00+01:00", 1),
        ("2026-03-29T03:00:00+02:00", 1),
    ]


def test_each_metric_has_its_series(world: Reports) -> None:
    def values(metric: str, interval: str = "day") -> list[Any]:
        found = _get(world, SERIES, metric=metric, interval=interval, **WHOLE)
        return [p["value"] for p in found["points"]]

    assert values("messages") == [0, 8, 2]
    assert values("first_response") == [None, 120.0, 30.0]  # [60, 120, 300]; [30]
    assert values("resolution") == [None, 1300.0, 90.0]  # [600, 2000]; [90]
    assert values("csat") == [None, 4.0, 1.0]
    weeks = _get(world, SERIES, metric="conversations", interval="week", **WHOLE)["points"]
    # Weeks start on Monday: 23 March and 30 March (local).
    assert [(p["local"][:10], p["value"]) for p in weeks] == [("2026-03-23", 3), ("2026-03-30", 1)]


def test_business_hours_split_the_conversations(world: Reports) -> None:
    inside = _get(world, SUMMARY, hours="business", **WHOLE)
    outside = _get(world, SUMMARY, hours="outside", **WHOLE)
    # c4 (Monday 10:00 at site A) and c3 (site B has no hours: always open) against c1, c2.
    assert inside["conversations"] == 2 and outside["conversations"] == 2
    assert inside["first_response_seconds"] == {"median": 45.0, "p90": 60.0}
    assert outside["first_response_seconds"] == {"median": 210.0, "p90": 300.0}


def test_an_agent_sees_only_their_sites_numbers(world: Reports) -> None:
    mine = _get(world, SUMMARY, True, **WHOLE)
    assert mine == {
        "conversations": 1,
        "messages": 2,
        "first_response_seconds": {"median": 60.0, "p90": 60.0},
        "resolution_seconds": {"median": None, "p90": None},
        "csat": {"average": None, "count": 0},
    }
    other = world.agent_http.get(SUMMARY, params={**WHOLE, "site_id": world.site_a})
    assert_error(other, 404, "not_found")
    sites = _get(world, "/api/v1/reports/sites", True, **WHOLE)["sites"]
    assert [s["site_id"] for s in sites] == [world.site_b]
    agents = _get(world, "/api/v1/reports/agents", True, **WHOLE)["agents"]
    assert [(a["operator_id"], a["conversations"]) for a in agents] == [(world.agent_b_id, 1)]
    ratings = _get(world, "/api/v1/reports/ratings", True, **WHOLE)
    assert ratings["recent"] == [] and ratings["csat"]["count"] == 0
    cells = _get(world, "/api/v1/reports/heatmap", True, **WHOLE)["cells"]
    assert sum(c["conversations"] for c in cells) == 1


def test_breakdowns_per_site_and_agent(world: Reports) -> None:
    sites = _get(world, "/api/v1/reports/sites", **WHOLE)["sites"]
    assert [(s["name"], s["conversations"], s["messages"], s["resolved"]) for s in sites] == [
        ("Shop A", 3, 8, 3),
        ("Shop B", 1, 2, 0),
    ]
    assert sites[0]["csat"] == {"average": 3.0, "count": 3}
    agents = _get(world, "/api/v1/reports/agents", **WHOLE)["agents"]
    # Each replier took the conversation (assign on reply).
    assert [(a["name"], a["conversations"]) for a in agents] == [
        ("Olga Owner", 3),
        ("Bea Agent", 1),
    ]
    assert agents[0]["first_response_seconds"] == {"median": 120.0, "p90": 300.0}


def test_busiest_hours_and_ratings(world: Reports) -> None:
    cells = _get(world, "/api/v1/reports/heatmap", **WHOLE)["cells"]
    busy = {(c["weekday"], c["hour"]): c["conversations"] for c in cells if c["conversations"]}
    assert busy == {(6, 0): 1, (6, 1): 1, (6, 3): 1, (0, 10): 1}
    assert len(cells) == 7 * 24
    ratings = _get(world, "/api/v1/reports/ratings", **WHOLE)
    assert ratings["distribution"] == [
        {"score": 1, "count": 1},
        {"score": 2, "count": 0},
        {"score": 3, "count": 1},
        {"score": 4, "count": 0},
        {"score": 5, "count": 1},
    ]
    assert [(r["score"], r["comment"]) for r in ratings["recent"]] == [(1, "=cmd"), (5, "Great")]


def test_csv_by_accept_header_and_by_link(world: Reports) -> None:
    params = {"metric": "conversations", "interval": "day", **WHOLE}
    by_header = world.client.get(
        SERIES, params=params, headers={**world.admin, "Accept": "text/csv"}
    )
    assert by_header.status_code == 200
    assert by_header.headers["content-type"].startswith("text/csv")
    assert "attachment" in by_header.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(by_header.text)))
    assert rows == [
        ["t", "local", "conversations"],
        ["2026-03-27T23:00:00Z", "2026-03-28T00:00:00+01:00", "0"],
        ["2026-03-28T23:00:00Z", "2026-03-29T00:00:00+01:00", "3"],
        ["2026-03-29T22:00:00Z", "2026-03-30T00:00:00+02:00", "1"],
    ]
    by_link = world.client.get(SERIES, params={**params, "format": "csv"}, headers=world.admin)
    assert by_link.text == by_header.text
    agents = world.client.get(
        "/api/v1/reports/agents", params={**WHOLE, "format": "csv"}, headers=world.admin
    )
    agent_rows = list(csv.DictReader(io.StringIO(agents.text)))
    assert [(r["name"], r["conversations"]) for r in agent_rows] == [
        ("Olga Owner", "3"),
        ("Bea Agent", "1"),
    ]
    summary = world.client.get(SUMMARY, params=WHOLE, headers={**world.admin, "Accept": "text/csv"})
    assert dict(csv.reader(io.StringIO(summary.text)))["messages"] == "10"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-03-30", "to": "2026-03-28"}, "from"),
        ({"from": "2024-01-01", "to": "2026-03-28"}, "from"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
    ],
)
def test_bad_ranges_and_zones_are_422(world: Reports, params: dict[str, str], field: str) -> None:
    found = world.client.get(SUMMARY, params=params, headers=world.admin)
    error = assert_error(found, 422, "validation_error")
    assert error["details"]["field"] == field


@pytest.mark.parametrize(
    "params",
    [
        {"metric": "visits"},
        {"metric": "messages", "interval": "minute"},
        {},
        {"metric": "messages", "hours": "weekends"},
        {"metric": "messages", "interval": "hour", "from": "2025-04-01", "to": "2026-03-28"},
    ],
)
def test_bad_metrics_and_intervals_are_422(world: Reports, params: dict[str, str]) -> None:
    assert_error(
        world.client.get(SERIES, params=params, headers=world.admin), 422, "validation_error"
    )


def test_visitors_and_bots_get_no_reports(world: Reports, tclient: TestClient) -> None:
    visitor = next(iter(world.ids.values()))
    assert_error(tclient.get(SUMMARY, headers=bearer(visitor)), 401, "unauthorized")
    assert_error(tclient.get(SUMMARY), 401, "unauthorized")
    made = tclient.post(
        "/api/v1/api-tokens",
        json={"name": "b", "role": "bot", "site_id": world.site_b},
        headers=world.admin,
    )
    assert made.status_code == 201, made.text
    bot = bearer(made.json()["token"])
    assert_error(tclient.get(SUMMARY, headers=bot), 403, "forbidden")
