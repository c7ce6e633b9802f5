"""Recent events from the hub's memory: a reader whose cursor lies among the events the
hub still holds takes them without a read, and gets exactly what the log gives it.

The log's own answer (``read_all``: long-polls that do not wait, which always read the
log) is the reference; the metric ``chatdesk_event_reads_total{reason="catch_up"}``
tells whether a poll read the log.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chatdesk.realtime import hub as hub_module
from tests.factories import bearer, create_site, csrf
from tests.realtime.conftest import (
    Scene,
    head_of,
    operator_post,
    poll,
    start_chat,
    visitor_session,
    wait_until,
)
from tests.realtime.test_fanout import Reader, _event_reads, add_operator
from tests.realtime.test_no_loss import read_all

pytestmark = pytest.mark.live

WIDGET = "/api/v1/widget/events"
CONSOLE = "/api/v1/events"


def owner_stream(scene: Scene, after: int) -> Reader:
    """An owner's stream kept open: with a listener parked, the hub reads every new event."""
    http = scene.live.client()
    http.cookies.update(scene.owner_http.cookies)
    scene.extra.append(http)
    reader = Reader(http, CONSOLE, {}, after)
    reader.start()
    wait_until(lambda: scene.live.parked() >= 1, what="the owner's stream to park")
    return reader


def handed_through(reader: Reader, event_id: int) -> None:
    wait_until(lambda: reader.last_id >= event_id, what=f"the stream to reach {event_id}")


def waiting_poll(http: httpx.Client, path: str, headers: dict[str, str], after: int) -> Any:
    """A long-poll that would wait: it may take what the hub holds."""
    return poll(http, path, headers, after, wait=2)


def test_a_poll_that_waits_takes_recent_events_from_memory_as_the_log_gives_them(
    scene: Scene,
) -> None:
    live = scene.live
    site_b = create_site(scene.owner_http, scene.owner, name="Shop B")
    agent_http, _agent = add_operator(scene, "agent", [scene.site["id"]])
    start = head_of(scene.owner_http, CONSOLE, {})
    reader = owner_stream(scene, start)
    other_token = visitor_session(scene.visitor_http, site_b["site_key"], name="Wes")
    other = start_chat(scene.visitor_http, other_token, "Hello from B")["conversation"]["id"]
    scene.visitor_says("Where is my parcel?")
    scene.operator_says("Checking the courier", private=True)
    scene.operator_says("It leaves today")
    operator_post(scene.owner_http, scene.owner, other, "Hello Wes", private=False)
    head = head_of(scene.owner_http, CONSOLE, {})
    handed_through(reader, head)

    credentials = {
        "owner": (scene.owner_http, CONSOLE, {}),
        "agent of site A": (agent_http, CONSOLE, {}),
        "visitor of site A": (scene.visitor_http, WIDGET, scene.visitor_headers()),
        "visitor of site B": (scene.visitor_http, WIDGET, bearer(other_token)),
    }
    before = _event_reads(live)
    from_memory = {
        name: waiting_poll(http, path, headers, start)
        for name, (http, path, headers) in credentials.items()
    }
    after = _event_reads(live)
    assert after["catch_up"] == before["catch_up"], "a poll read the log"

    for name, (http, path, headers) in credentials.items():
        page = from_memory[name]
        logged = read_all(http, path, headers, start)
        assert logged, name
        assert page["events"] == logged, name
        assert page["cursor"] >= logged[-1]["id"], name
    visitor_a = from_memory["visitor of site A"]["events"]
    assert not any(e["data"].get("message", {}).get("private") for e in visitor_a)
    assert {e["conversation_id"] for e in visitor_a} == {scene.conversation_id}
    agent_sees = {e["conversation_id"] for e in from_memory["agent of site A"]["events"]}
    assert agent_sees == {scene.conversation_id}
    reader.finish(head)


def test_a_cursor_older_than_what_memory_holds_reads_the_log(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "RECENT", 2)  # the hub keeps the newest two events
    live = scene.live
    start = head_of(scene.owner_http, CONSOLE, {})
    reader = owner_stream(scene, start)
    for n in range(4):
        scene.visitor_says(f"message {n}")
    head = head_of(scene.owner_http, CONSOLE, {})
    handed_through(reader, head)

    before = _event_reads(live)
    old = waiting_poll(scene.owner_http, CONSOLE, {}, start)
    middle = _event_reads(live)
    recent = waiting_poll(scene.owner_http, CONSOLE, {}, head - 1)
    after = _event_reads(live)
    assert middle["catch_up"] == before["catch_up"] + 1  # the log, from its cursor
    assert after["catch_up"] == middle["catch_up"]  # the newest event, from memory
    assert old["events"] == read_all(scene.owner_http, CONSOLE, {}, start)
    assert [e["id"] for e in recent["events"]] == [head]
    reader.finish(head)


def test_erasing_a_visitor_empties_memory_so_no_poll_returns_their_events(scene: Scene) -> None:
    live = scene.live
    start = head_of(scene.owner_http, CONSOLE, {})
    reader = owner_stream(scene, start)
    token, conversation = scene.new_visitor("Erin")
    scene.visitor_http.post(
        f"/api/v1/widget/conversations/{conversation}/messages",
        json={"body": "my address is 1 Elm Street", "client_msg_id": "erin-1"},
        headers=bearer(token),
    ).raise_for_status()
    visitor_id = scene.visitor_http.get("/api/v1/widget/visitor", headers=bearer(token)).json()[
        "id"
    ]
    handed_through(reader, head_of(scene.owner_http, CONSOLE, {}))

    erased = scene.owner_http.delete(f"/api/v1/visitors/{visitor_id}", headers=csrf(scene.owner))
    assert erased.status_code == 204, erased.text
    scene.visitor_says("still here")  # a new event for the hub to hold
    head = head_of(scene.owner_http, CONSOLE, {})
    handed_through(reader, head)

    before = _event_reads(live)
    page = waiting_poll(scene.owner_http, CONSOLE, {}, start)
    assert _event_reads(live)["catch_up"] == before["catch_up"] + 1
    assert conversation not in {e["conversation_id"] for e in page["events"]}
    assert page["events"] == read_all(scene.owner_http, CONSOLE, {}, start)
    assert page["events"][-1]["id"] == head
    reader.finish(head)
