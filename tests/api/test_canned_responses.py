"""Canned responses: editing (PATCH), and responses of one site or of every site."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.expect import assert_error
from tests.api.world import ApiWorld, api_world, new_site, quick_operator
from tests.factories import bearer, csrf, login

PATH = "/api/v1/canned-responses"


def _create(world: ApiWorld, shortcut: str, body: str = "Hi!", **extra: Any) -> dict[str, Any]:
    response = world.client.post(
        PATH, json={"shortcut": shortcut, "body": body, **extra}, headers=world.op
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def _shortcuts(client: TestClient, headers: dict[str, str]) -> list[tuple[str, str | None]]:
    response = client.get(PATH, headers=headers)
    assert response.status_code == 200, response.text
    return [(c["shortcut"], c["site_id"]) for c in response.json()["canned_responses"]]


def test_patch_changes_shortcut_and_body_in_place(client: TestClient) -> None:
    world = api_world(client)
    made = _create(world, "refund", "Refunds take 5 days")
    assert made["site_id"] is None and made["updated_at"] is None
    url = f"{PATH}/{made['id']}"
    changed = client.patch(url, json={"body": "Refunds take **3** days"}, headers=world.op)
    assert changed.status_code == 200, changed.text
    shape = changed.json()
    assert shape["id"] == made["id"] and shape["shortcut"] == "refund"
    assert shape["body"] == "Refunds take **3** days"
    assert shape["created_at"] == made["created_at"] and shape["updated_at"]
    renamed = client.patch(url, json={"shortcut": "refunds"}, headers=world.op).json()
    assert renamed["shortcut"] == "refunds" and renamed["body"] == "Refunds take **3** days"
    # Nothing asked, nothing changed.
    assert client.patch(url, json={}, headers=world.op).json() == renamed
    assert _shortcuts(client, world.op) == [("refunds", None)]
    owner = login(client, world.owner)
    entries = client.get("/api/v1/audit-log", headers=csrf(owner)).json()["entries"]
    updates = [e for e in entries if e["action"] == "canned_response.update"]
    assert [e["details"]["fields"] for e in updates] == [["shortcut"], ["body"]]
    assert {e["target_id"] for e in updates} == {made["id"]}


def test_patch_validates_like_create(client: TestClient) -> None:
    world = api_world(client)
    made = _create(world, "hours", "9 to 5")
    url = f"{PATH}/{made['id']}"
    for body in (
        {"shortcut": "Has Caps"},
        {"shortcut": ""},
        {"shortcut": "s" * 51},
        {"shortcut": "/slash"},
        {"body": " "},
        {"body": ""},
        {"body": "b" * 10_001},
        {"body": 5},
        {"created_at": "2000-01-01T00:00:00Z"},
    ):
        response = client.patch(url, json=body, headers=world.op)
        assert_error(response, 422, "validation_error")
    assert client.get(PATH, headers=world.op).json()["canned_responses"] == [made]


def test_patch_to_a_shortcut_already_used_is_409(client: TestClient) -> None:
    world = api_world(client)
    _create(world, "hello")
    other = _create(world, "bye")
    taken = client.patch(f"{PATH}/{other['id']}", json={"shortcut": "hello"}, headers=world.op)
    error = assert_error(taken, 409, "conflict")
    assert error["details"] == {"field": "shortcut"}
    # Its own shortcut again is no conflict.
    same = client.patch(f"{PATH}/{other['id']}", json={"shortcut": "bye"}, headers=world.op)
    assert same.status_code == 200, same.text
    assert _shortcuts(client, world.op) == [("bye", None), ("hello", None)]


def test_patch_of_an_unknown_or_deleted_response_is_404(client: TestClient) -> None:
    world = api_world(client)
    made = _create(world, "gone")
    assert client.delete(f"{PATH}/{made['id']}", headers=world.op).status_code == 204
    for canned_id in (made["id"], "01aaaaaaaaaaaaaaaaaaaaaaaa", "x" * 40):
        response = client.patch(f"{PATH}/{canned_id}", json={"body": "x"}, headers=world.op)
        assert_error(response, 404, "not_found")


def test_agents_and_bots_cannot_patch_any_response(client: TestClient) -> None:
    world = api_world(client)
    other_site = new_site(client, world.op, name="Blog")
    mine = _create(world, "mine", site_id=world.site["id"])
    theirs = _create(world, "theirs", site_id=other_site["id"])
    glob = _create(world, "global")
    agent = quick_operator(client, "agent", site_ids=[world.site["id"]])
    as_agent = csrf(login(client, agent))
    bot = client.post(
        "/api/v1/api-tokens",
        json={"name": "Helper", "role": "bot", "site_id": world.site["id"]},
        headers=world.op,
    ).json()["token"]
    for headers in (as_agent, bearer(bot)):
        for made in (theirs, mine, glob):
            response = client.patch(f"{PATH}/{made['id']}", json={"body": "Pwned"}, headers=headers)
            assert_error(response, 403, "forbidden")
    bodies = {
        c["shortcut"]: c["body"]
        for c in client.get(PATH, headers=world.op).json()["canned_responses"]
    }
    assert bodies == {"global": "Hi!", "mine": "Hi!", "theirs": "Hi!"}


def test_each_operator_sees_global_responses_and_those_of_their_sites(client: TestClient) -> None:
    world = api_world(client)
    shop, blog = world.site, new_site(client, world.op, name="Blog")
    _create(world, "hello", "Hello from everyone")
    _create(world, "hello", "Hello from the shop", site_id=shop["id"])
    _create(world, "shipping", "Ships in 2 days", site_id=shop["id"])
    _create(world, "posts", "New posts weekly", site_id=blog["id"])
    shop_agent = quick_operator(client, "agent", site_ids=[shop["id"]])
    blog_agent = quick_operator(client, "agent", site_ids=[blog["id"]])
    nowhere = quick_operator(client, "agent", site_ids=[])
    assert _shortcuts(client, world.op) == [
        ("hello", None),
        ("hello", shop["id"]),
        ("posts", blog["id"]),
        ("shipping", shop["id"]),
    ]
    as_shop = csrf(login(client, shop_agent))
    assert _shortcuts(client, as_shop) == [
        ("hello", None),
        ("hello", shop["id"]),
        ("shipping", shop["id"]),
    ]
    as_blog = csrf(login(client, blog_agent))
    assert _shortcuts(client, as_blog) == [("hello", None), ("posts", blog["id"])]
    as_nowhere = csrf(login(client, nowhere))
    assert _shortcuts(client, as_nowhere) == [("hello", None)]


def test_a_shortcut_is_unique_per_site_and_among_global_ones(client: TestClient) -> None:
    world = api_world(client)
    shop, blog = world.site, new_site(client, world.op, name="Blog")
    _create(world, "hi")
    at_shop = _create(world, "hi", site_id=shop["id"])
    _create(world, "hi", site_id=blog["id"])
    for extra in ({}, {"site_id": None}, {"site_id": shop["id"]}):
        again = client.post(PATH, json={"shortcut": "hi", "body": "x", **extra}, headers=world.op)
        assert_error(again, 409, "conflict")
    # Moving the shop's response to every site or to the blog meets the same rule.
    url = f"{PATH}/{at_shop['id']}"
    for site_id in (None, blog["id"]):
        moved = client.patch(url, json={"site_id": site_id}, headers=world.op)
        assert_error(moved, 409, "conflict")
    renamed = client.patch(url, json={"shortcut": "hey", "site_id": None}, headers=world.op)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["site_id"] is None and renamed.json()["shortcut"] == "hey"


def test_a_response_for_a_site_that_is_not_there_is_404(client: TestClient) -> None:
    world = api_world(client)
    made = _create(world, "hi")
    missing = "01aaaaaaaaaaaaaaaaaaaaaaaa"
    response = client.post(
        PATH, json={"shortcut": "x", "body": "y", "site_id": missing}, headers=world.op
    )
    assert_error(response, 404, "not_found")
    moved = client.patch(f"{PATH}/{made['id']}", json={"site_id": missing}, headers=world.op)
    assert_error(moved, 404, "not_found")
    for bad in ("", 5, "s" * 33):
        response = client.post(
            PATH, json={"shortcut": "x", "body": "y", "site_id": bad}, headers=world.op
        )
        assert_error(response, 422, "validation_error")
    # An agent cannot make one, not even for its own site.
    agent = quick_operator(client, "agent", site_ids=[world.site["id"]])
    as_agent = csrf(login(client, agent))
    own = {"shortcut": "x", "body": "y", "site_id": world.site["id"]}
    assert_error(client.post(PATH, json=own, headers=as_agent), 403, "forbidden")
    assert _shortcuts(client, world.op) == [("hi", None)]


def test_a_sites_responses_go_with_their_site_being_listed_only_to_its_operators(
    client: TestClient,
) -> None:
    world = api_world(client)
    blog = new_site(client, world.op, name="Blog")
    made = _create(world, "posts", site_id=blog["id"])
    agent = quick_operator(client, "agent", site_ids=[world.site["id"]])
    as_agent = csrf(login(client, agent))
    assert _shortcuts(client, as_agent) == []
    # The agent joins the blog: now it sees it.
    client.patch(
        f"/api/v1/operators/{agent.id}",
        json={"site_ids": [world.site["id"], blog["id"]]},
        headers=world.op,
    )
    assert _shortcuts(client, as_agent) == [("posts", made["site_id"])]
