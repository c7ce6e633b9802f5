"""Routing on live servers (ADR 0016): round-robin and least-busy among the operators
online for a site, ``max_open`` kept, waiting conversations picked up when someone
arrives or frees capacity, the first reply assigning; @mentions in private notes; and
concurrent arrivals on two nodes sharing one database and one Redis bus."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chatdesk.db.tables import audit_log, events
from chatdesk.web import routing_sweep
from tests.factories import Operator, bearer, create_site, csrf
from tests.realtime.conftest import Live, Scene, make_scene, start_chat, visitor_session, wait_until
from tests.realtime.test_operator_presence import (
    CONSOLE,
    GRACE,
    Watcher,
    redis_url,  # noqa: F401  (a fixture)
    set_presence,
    signed_in,
)

pytestmark = pytest.mark.live


@pytest.fixture
def node(live_factory: Callable[..., Live]) -> Live:
    return live_factory(presence_grace_seconds=GRACE)


@pytest.fixture
def scene_on(node: Live) -> Iterator[Scene]:
    made = make_scene(node)
    yield made
    made.close()


def set_site(scene: Scene, **fields: Any) -> dict[str, Any]:
    response = scene.owner_http.patch(
        f"/api/v1/sites/{scene.site['id']}", json=fields, headers=csrf(scene.owner)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def new_conversation(http: httpx.Client, site_key: str) -> dict[str, Any]:
    token = visitor_session(http, site_key, name="Vi")
    conversation: dict[str, Any] = start_chat(http, token, "Hello?")["conversation"]
    return conversation


def assignee_of(http: httpx.Client, conversation_id: str) -> str | None:
    response = http.get(f"/api/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    found: str | None = response.json()["assignee_id"]
    return found


def assignment_events(live: Live) -> Counter[str]:
    """conversation.updated events that changed the assignee, per conversation."""
    rows = live.db.read_sync(
        lambda conn: conn.execute(
            select(events.c.conversation_id, events.c.data).where(
                events.c.type == "conversation.updated"
            )
        ).all()
    )
    return Counter(row[0] for row in rows if "assignee_id" in row[1]["changes"])


def assignment_audit(live: Live) -> list[tuple[str | None, dict[str, Any]]]:
    rows = live.db.read_sync(
        lambda conn: conn.execute(
            select(audit_log.c.operator_id, audit_log.c.details)
            .where(audit_log.c.action == "conversation.assignee_id")
            .order_by(audit_log.c.id)
        ).all()
    )
    return [(row[0], row[1]) for row in rows]


def online(node: Live, http: httpx.Client, operator: Operator) -> Watcher:
    watcher = Watcher(http, CONSOLE)
    wait_until(lambda: node.app.state.services.operator_presence.is_online(operator.id))
    return watcher


def test_round_robin_takes_turns_among_the_online_agents_of_the_site(
    node: Live, scene_on: Scene
) -> None:
    site = scene_on.site
    assert site["assignment"] == "manual"
    other = node.client()
    people = [signed_in(node, "agent", name, site_ids=[site["id"]]) for name in ("Ada", "Bo")]
    offline_http, offline_agent = signed_in(node, "agent", "Cy", site_ids=[site["id"]])
    elsewhere_http, elsewhere = signed_in(node, "agent", "Eli", site_ids=[])
    watchers = [online(node, http, op) for http, op in people]
    watchers.append(online(node, elsewhere_http, elsewhere))
    try:
        # Manual: nobody is given the conversation.
        first = new_conversation(other, site["site_key"])
        assert first["assignee_id"] is None
        set_site(scene_on, assignment="round_robin")
        ids = [new_conversation(other, site["site_key"])["id"] for _ in range(6)]
        got = [assignee_of(scene_on.owner_http, cid) for cid in ids]
        ada, bo = sorted(op.id for _, op in people)
        assert got == [ada, bo] * 3
        assert offline_agent.id not in got and elsewhere.id not in got
        # One assignment event and one audit entry each, by chatdesk itself.
        assert assignment_events(node) == Counter(ids)
        audit = assignment_audit(node)
        assert [(by, d["assignee_id"], d["assigned_by"]) for by, d in audit] == [
            (None, g, "round_robin") for g in got
        ]
    finally:
        for watcher in watchers:
            watcher.close()
        for http, _ in people:
            http.close()
        for http in (other, offline_http, elsewhere_http):
            http.close()


def test_least_busy_never_fills_anyone_past_max_open_and_waiting_ones_are_picked_up(
    node: Live, scene_on: Scene
) -> None:
    site = scene_on.site
    set_site(scene_on, assignment="least_busy")
    visitors = node.client()
    (ada_http, ada), (bo_http, bo) = (
        signed_in(node, "agent", name, site_ids=[site["id"]]) for name in ("Ada", "Bo")
    )
    owner = scene_on.owner_http
    for operator, limit in ((ada, 1), (bo, 2)):
        response = owner.patch(
            f"/api/v1/operators/{operator.id}",
            json={"max_open": limit},
            headers=csrf(scene_on.owner),
        )
        assert response.status_code == 200, response.text
    # The scene's first conversation is unassigned (the site was manual then).
    first = scene_on.conversation_id
    assert assignee_of(owner, first) is None
    watchers = [online(node, ada_http, ada), online(node, bo_http, bo)]
    try:
        # Arriving picked up the waiting conversation (ids break the tie: the lower first).
        low = min(ada.id, bo.id)
        wait_until(lambda: assignee_of(owner, first) is not None, what="the sweep")
        assert assignee_of(owner, first) == low
        ids = [new_conversation(visitors, site["site_key"])["id"] for _ in range(3)]
        got = [assignee_of(owner, cid) for cid in ids]
        assert Counter(g for g in [assignee_of(owner, first), *got] if g) == Counter(
            {ada.id: 1, bo.id: 2}
        )
        waiting = [cid for cid, g in zip(ids, got, strict=True) if g is None]
        assert len(waiting) == 1
        # Resolving one of Bo's frees a place: the waiting conversation is his now.
        mine = next(cid for cid, g in zip(ids, got, strict=True) if g == bo.id)
        response = owner.patch(
            f"/api/v1/conversations/{mine}",
            json={"status": "resolved"},
            headers=csrf(scene_on.owner),
        )
        assert response.status_code == 200, response.text
        assert assignee_of(owner, waiting[0]) == bo.id
        # Everyone is full: a new one waits. Giving one of Ada's to the owner frees her
        # place at once; raising Bo's max_open gives him the next one.
        full = new_conversation(visitors, site["site_key"])["id"]
        assert assignee_of(owner, full) is None
        adas = next(cid for cid in [first, *ids] if assignee_of(owner, cid) == ada.id)
        response = owner.patch(
            f"/api/v1/conversations/{adas}",
            json={"assignee_id": scene_on.owner.id},
            headers=csrf(scene_on.owner),
        )
        assert response.status_code == 200, response.text
        assert assignee_of(owner, full) == ada.id
        more = new_conversation(visitors, site["site_key"])["id"]
        assert assignee_of(owner, more) is None
        owner.patch(
            f"/api/v1/operators/{bo.id}", json={"max_open": 3}, headers=csrf(scene_on.owner)
        )
        wait_until(lambda: assignee_of(owner, more) == bo.id, what="the sweep on max_open")
        # Away is not available: a new one waits, and choosing Online picks it up.
        set_presence(ada_http, ada, "away")
        set_presence(bo_http, bo, "away")
        later = new_conversation(visitors, site["site_key"])["id"]
        assert assignee_of(owner, later) is None
        owner.patch(
            f"/api/v1/operators/{ada.id}", json={"max_open": 5}, headers=csrf(scene_on.owner)
        )
        set_presence(ada_http, ada, "online")
        wait_until(lambda: assignee_of(owner, later) == ada.id, what="the sweep on Online")
        events = assignment_events(node)
        assert events.pop(adas) == 2  # routed, then given to the owner
        assert max(events.values()) == 1
    finally:
        for watcher in watchers:
            watcher.close()
        for http in (ada_http, bo_http, visitors):
            http.close()


def test_the_first_reply_assigns_and_a_private_note_does_not(node: Live, scene_on: Scene) -> None:
    site = set_site(scene_on, assign_on_reply=True)
    agent_http, agent = signed_in(node, "agent", "Ada", site_ids=[site["id"]])
    try:
        cid = scene_on.conversation_id
        post = f"/api/v1/conversations/{cid}/messages"

        def say(http: httpx.Client, op: Operator, private: bool) -> None:
            body = {"body": "On it", "client_msg_id": secrets.token_hex(6), "private": private}
            assert http.post(post, json=body, headers=csrf(op)).status_code == 201

        say(agent_http, agent, True)
        assert assignee_of(agent_http, cid) is None
        say(agent_http, agent, False)
        assert assignee_of(agent_http, cid) == agent.id
        say(scene_on.owner_http, scene_on.owner, False)  # already assigned: stays
        assert assignee_of(agent_http, cid) == agent.id
        assert assignment_audit(node) == [
            (agent.id, {"assignee_id": agent.id, "assigned_by": "reply"})
        ]
        # Switched off per site: replying leaves it unassigned.
        set_site(scene_on, assign_on_reply=False)
        _token, other = scene_on.new_visitor()
        say_other = f"/api/v1/conversations/{other}/messages"
        body = {"body": "Hi", "client_msg_id": secrets.token_hex(6)}
        assert agent_http.post(say_other, json=body, headers=csrf(agent)).status_code == 201
        assert assignee_of(agent_http, other) is None
    finally:
        agent_http.close()


def test_site_routing_settings_are_validated(scene_on: Scene) -> None:
    path = f"/api/v1/sites/{scene_on.site['id']}"
    for bad in ({"assignment": "random"}, {"assignment": 3}, {"assign_on_reply": "maybe"}):
        response = scene_on.owner_http.patch(path, json=bad, headers=csrf(scene_on.owner))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_error"
    assert scene_on.owner_http.get(path).json()["assignment"] == "manual"
    # A new site assigns on first reply, by hand otherwise, until told.
    created = create_site(scene_on.owner_http, scene_on.owner)
    assert (created["assignment"], created["assign_on_reply"]) == ("manual", True)


def test_private_notes_carry_the_mentioned_operators_of_the_site(
    node: Live, scene_on: Scene
) -> None:
    site = scene_on.site
    ada_http, ada = signed_in(node, "agent", "Ada Lovelace", site_ids=[site["id"]])
    elsewhere_http, elsewhere = signed_in(node, "agent", "Eli", site_ids=[])
    try:
        cid = scene_on.conversation_id
        local = elsewhere.email.split("@")[0]
        note = scene_on.operator_says(
            f"@ada lovelace and @{local}, have a look; mail a@b.example", private=True
        )
        assert note["mentions"] == [ada.id]  # Eli does not work on this site
        reply = scene_on.operator_says("Thanks @Ada Lovelace", private=False)
        assert reply["mentions"] == []
        history = ada_http.get(f"/api/v1/conversations/{cid}/messages").json()["messages"]
        assert {m["id"]: m["mentions"] for m in history}[note["id"]] == [ada.id]
        widget = scene_on.visitor_http.get(
            f"/api/v1/widget/conversations/{cid}/messages", headers=scene_on.visitor_headers()
        ).json()["messages"]
        assert note["id"] not in {m["id"] for m in widget}
        assert all(m["mentions"] == [] for m in widget)
    finally:
        ada_http.close()
        elsewhere_http.close()


# -- two nodes, one database, one Redis bus ------------------------------------------


@pytest.fixture
def two_nodes(redis_url: str, live_factory: Callable[..., Live]) -> tuple[Live, Live]:  # noqa: F811
    settings = {"redis_url": redis_url, "presence_grace_seconds": GRACE}
    return live_factory(**settings), live_factory(**settings)


def _arrivals(nodes: tuple[Live, Live], site_key: str, count: int) -> list[str]:
    """``count`` visitors start conversations at once, half through each node."""
    clients = [node.client() for node in nodes]
    tokens = [visitor_session(clients[i % 2], site_key, name=f"V{i}") for i in range(count)]

    def start(i: int) -> str:
        response = clients[i % 2].post(
            "/api/v1/widget/conversations",
            json={"body": "Hello", "client_msg_id": secrets.token_hex(8)},
            headers=bearer(tokens[i]),
        )
        assert response.status_code == 201, response.text
        found: str = response.json()["conversation"]["id"]
        return found

    try:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(start, range(count)))
    finally:
        for http in clients:
            http.close()


@pytest.mark.redis
def test_concurrent_arrivals_on_two_nodes_are_routed_fairly_and_once(
    two_nodes: tuple[Live, Live],
) -> None:
    node_a, node_b = two_nodes
    scene = make_scene(node_a)
    site = scene.site
    agents = [
        signed_in(node, "agent", name, site_ids=[site["id"]])
        for node, name in ((node_a, "Ada"), (node_b, "Bo"), (node_a, "Cy"))
    ]
    watchers = [Watcher(http, CONSOLE) for http, _ in agents]
    try:
        # Both nodes see the three online before anyone arrives.
        for _, agent in agents:
            for node in two_nodes:
                presence = node.app.state.services.operator_presence
                wait_until(lambda p=presence, a=agent: p.is_online(a.id), what="presence")
        # Their arrivals' sweeps have found nothing to route (the site assigns by hand):
        # one still under way when the site turns automatic would route the scene's
        # waiting conversation.
        wait_until(lambda: routing_sweep.running() == 0, what="arrival sweeps")

        set_site(scene, assignment="round_robin")
        ids = _arrivals(two_nodes, site["site_key"], 30)
        got = Counter(assignee_of(scene.owner_http, cid) for cid in ids)
        assert None not in got
        assert sorted(got) == sorted(agent.id for _, agent in agents)
        assert max(got.values()) - min(got.values()) <= 1
        assert assignment_events(node_a) == Counter(ids)  # exactly one each

        set_site(scene, assignment="least_busy")
        for _, agent in agents:  # room for 4 more each: 12 of the next 16
            response = scene.owner_http.patch(
                f"/api/v1/operators/{agent.id}", json={"max_open": 14}, headers=csrf(scene.owner)
            )
            assert response.status_code == 200, response.text
        more = _arrivals(two_nodes, site["site_key"], 16)
        # The scene's own conversation waited since the site was manual: raising max_open
        # routes what waits, so it competes for the 12 places too (47 for 42).
        everyone = [scene.conversation_id, *ids, *more]
        after = Counter(assignee_of(scene.owner_http, cid) for cid in everyone)
        assert after[None] == 5
        assert all(after[agent.id] == 14 for _, agent in agents), after
        events_per = assignment_events(node_b)
        assert all(events_per[cid] == 1 for cid in ids)
        assert sum(events_per[cid] for cid in [scene.conversation_id, *more]) == 12
        assert max(events_per.values()) == 1
    finally:
        for watcher in watchers:
            watcher.close()
        for http, _ in agents:
            http.close()
        scene.close()


def test_the_team_of_a_site_and_lists_of_several_statuses(node: Live, scene_on: Scene) -> None:
    site = scene_on.site
    ada_http, _ada = signed_in(node, "agent", "Ada", site_ids=[site["id"]])
    eli_http, eli = signed_in(node, "agent", "Eli", site_ids=[])
    try:
        path = f"/api/v1/team?site_id={site['id']}"
        names = {o["name"] for o in ada_http.get(path).json()["operators"]}
        assert names == {"Ada", "Olive Owner"}  # the owner answers every site; Eli none
        assert eli.id in {o["id"] for o in ada_http.get("/api/v1/team").json()["operators"]}
        response = eli_http.get(path)  # a site Eli does not see: as if it did not exist
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
        _token, other = scene_on.new_visitor()
        owner = scene_on.owner_http
        response = owner.patch(
            f"/api/v1/conversations/{other}",
            json={"status": "pending"},
            headers=csrf(scene_on.owner),
        )
        assert response.status_code == 200, response.text

        def listed(status: str) -> set[str]:
            response = owner.get("/api/v1/conversations", params={"status": status})
            assert response.status_code == 200, response.text
            return {c["id"] for c in response.json()["conversations"]}

        first = scene_on.conversation_id
        assert listed("open") == {first}
        assert listed("pending") == {other}
        assert listed("open,pending") == {first, other}
        assert listed("resolved") == set()
        for bad in ("open,", "snooze", "open,pending,resolved,snoozed,open", "OPEN"):
            response = owner.get("/api/v1/conversations", params={"status": bad})
            assert response.status_code == 422, (bad, response.text)
    finally:
        ada_http.close()
        eli_http.close()
