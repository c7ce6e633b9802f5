"""Who may see what: visitors, audiences, agents and their sites, revocation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chatdesk.ids import new_id
from tests.api.expect import assert_error, new_agent, send_visitor
from tests.api.world import PASSWORD, api_world, new_site, quick_operator
from tests.factories import bearer, csrf, login, start_conversation, visitor_token


def test_a_visitor_gets_404_on_everything_of_another(client: TestClient) -> None:
    world = api_world(client)
    token_a = world.visitor_token
    token_b = visitor_token(client, world.site["site_key"], name="Bob")
    b_conversation = start_conversation(client, token_b, body="B's secret")["conversation"]["id"]
    a_conversation = world.conversation["id"]
    missing = new_id()

    def both(path: str, method: str = "GET", body: dict[str, str] | None = None) -> None:
        theirs = client.request(
            method, path.format(b_conversation), json=body, headers=bearer(token_a)
        )
        nothing = client.request(method, path.format(missing), json=body, headers=bearer(token_a))
        assert_error(theirs, 404, "not_found")
        assert theirs.content == nothing.content  # not yours == not there, byte for byte

    both("/api/v1/widget/conversations/{}/messages")
    both("/api/v1/widget/conversations/{}/messages?limit=1&before=zzz")
    both("/api/v1/widget/conversations/{}/messages", "POST", {"body": "hi", "client_msg_id": "x1"})
    both("/api/v1/widget/conversations/{}/typing", "POST")

    mine = client.get("/api/v1/widget/conversations", headers=bearer(token_a)).json()
    assert [c["id"] for c in mine["conversations"]] == [a_conversation]
    events = client.get("/api/v1/widget/events?after=0&wait=0", headers=bearer(token_a)).json()
    assert events["events"]
    assert {e["conversation_id"] for e in events["events"]} == {a_conversation}
    assert "B's secret" not in str(events)
    history = client.get(
        f"/api/v1/conversations/{b_conversation}/messages", headers=world.op
    ).json()["messages"]
    assert [m["body"] for m in history] == ["B's secret"]  # A's attempts stored nothing


def test_visitor_tokens_are_for_one_site_only_the_widget(client: TestClient) -> None:
    world = api_world(client)
    visitor = world.visitor
    cid = world.conversation["id"]
    for method, path in (
        ("GET", "/api/v1/auth/me"),
        ("GET", "/api/v1/conversations"),
        ("GET", f"/api/v1/conversations/{cid}"),
        ("GET", f"/api/v1/conversations/{cid}/messages"),
        ("POST", f"/api/v1/conversations/{cid}/read"),
        ("GET", "/api/v1/events?after=0&wait=0"),
        ("GET", "/api/v1/sites"),
        ("GET", "/api/v1/operators"),
        ("GET", "/api/v1/team"),
        ("GET", "/api/v1/labels"),
        ("GET", "/api/v1/canned-responses"),
        ("GET", "/api/v1/api-tokens"),
        ("GET", "/api/v1/audit-log"),
    ):
        assert_error(client.request(method, path, headers=visitor), 401, "unauthorized")


def test_operator_credentials_are_refused_on_the_widget_api(client: TestClient) -> None:
    world = api_world(client)
    login(client, world.owner)  # a session cookie is present from here on
    cid = world.conversation["id"]
    for headers in (world.op, {}):
        for method, path in (
            ("GET", "/api/v1/widget/conversations"),
            ("GET", "/api/v1/widget/visitor"),
            ("GET", f"/api/v1/widget/conversations/{cid}/messages"),
            ("POST", f"/api/v1/widget/conversations/{cid}/typing"),
            ("GET", "/api/v1/widget/events?after=0&wait=0"),
        ):
            assert_error(client.request(method, path, headers=headers), 401, "unauthorized")
    session_token = client.cookies["chatdesk_session"]
    response = client.get("/api/v1/widget/conversations", headers=bearer(session_token))
    assert_error(response, 401, "unauthorized")


def test_an_agent_sees_only_its_sites(client: TestClient) -> None:
    world = api_world(client)
    owner_headers = world.op
    # An agent created with no site, after the site exists: not a member of it.
    outsider = new_agent(client, login(client, world.owner), site_ids=[])
    client.cookies.clear()
    other_site = new_site(client, owner_headers, name="Agent's site")  # new sites take every agent
    token = visitor_token(client, other_site["site_key"])
    visible = start_conversation(client, token, body="visible")["conversation"]["id"]
    hidden = world.conversation["id"]
    send_visitor(client, world.visitor_token, hidden, "hidden message")

    login(client, outsider)
    listed = client.get("/api/v1/conversations").json()["conversations"]
    assert [c["id"] for c in listed] == [visible]
    assert (
        client.get(f"/api/v1/conversations?site_id={world.site['id']}").json()["conversations"]
        == []
    )
    assert client.get("/api/v1/conversations?q=hidden").json()["conversations"] == []
    missing = new_id()
    for method, path, body in (
        ("GET", "/api/v1/conversations/{}", None),
        ("PATCH", "/api/v1/conversations/{}", {"status": "resolved"}),
        ("GET", "/api/v1/conversations/{}/messages", None),
        ("POST", "/api/v1/conversations/{}/messages", {"body": "x", "client_msg_id": "a1"}),
        ("POST", "/api/v1/conversations/{}/typing", None),
        ("POST", "/api/v1/conversations/{}/read", None),
    ):
        headers = csrf(outsider)
        theirs = client.request(method, path.format(hidden), json=body, headers=headers)
        nothing = client.request(method, path.format(missing), json=body, headers=headers)
        assert_error(theirs, 404, "not_found")
        assert theirs.content == nothing.content
    events = client.get("/api/v1/events?after=0&wait=0").json()["events"]
    assert events and {e["conversation_id"] for e in events} == {visible}
    assert "hidden message" not in str(events)
    assert (
        client.get(f"/api/v1/conversations/{hidden}", headers=owner_headers).json()["status"]
        == "open"
    )


def test_revoked_sessions_and_tokens_are_refused_at_once(client: TestClient) -> None:
    world = api_world(client)
    made = client.post("/api/v1/api-tokens", json={"name": "ci"}, headers=world.op).json()
    token_headers = bearer(made["token"])
    assert client.get("/api/v1/conversations", headers=token_headers).status_code == 200
    assert client.delete(f"/api/v1/api-tokens/{made['id']}", headers=world.op).status_code == 204
    assert_error(client.get("/api/v1/conversations", headers=token_headers), 401, "unauthorized")
    # A revoked token does not come back, even to revoke itself.
    assert_error(
        client.delete(f"/api/v1/api-tokens/{made['id']}", headers=token_headers),
        401,
        "unauthorized",
    )


def test_deactivation_and_role_change_end_sessions(client: TestClient) -> None:
    world = api_world(client)
    deactivated = quick_operator(client, "agent")
    promoted = quick_operator(client, "agent")
    cookies = {}
    for operator in (deactivated, promoted):
        login(client, operator)
        cookies[operator.id] = client.cookies["chatdesk_session"]
        client.cookies.clear()

    def signed_in(operator_id: str) -> int:
        client.cookies.clear()
        client.cookies.set("chatdesk_session", cookies[operator_id])
        status = client.get("/api/v1/auth/me").status_code
        client.cookies.clear()
        return status

    assert signed_in(deactivated.id) == 200 and signed_in(promoted.id) == 200
    off = client.patch(
        f"/api/v1/operators/{deactivated.id}", json={"active": False}, headers=world.op
    )
    assert off.status_code == 200 and off.json()["active"] is False
    up = client.patch(f"/api/v1/operators/{promoted.id}", json={"role": "admin"}, headers=world.op)
    assert up.status_code == 200 and up.json()["role"] == "admin"
    assert signed_in(deactivated.id) == 401
    assert signed_in(promoted.id) == 401
    # The deactivated operator cannot sign in again; the promoted one can, as admin.
    refused = client.post(
        "/api/v1/auth/login", json={"email": deactivated.email, "password": PASSWORD}
    )
    assert_error(refused, 401, "unauthorized")
    back = client.post("/api/v1/auth/login", json={"email": promoted.email, "password": PASSWORD})
    assert back.json()["operator"]["role"] == "admin"
    # Deactivated operators drop out of the assignable team.
    team = client.get("/api/v1/team").json()["operators"]
    assert deactivated.id not in {member["id"] for member in team}


def test_deactivating_an_admin_revokes_its_api_tokens(client: TestClient) -> None:
    world = api_world(client)
    admin = login(client, quick_operator(client, "admin"))
    made = client.post(
        "/api/v1/api-tokens", json={"name": "mine", "role": "admin"}, headers=csrf(admin)
    ).json()
    client.cookies.clear()
    headers = bearer(made["token"])
    assert client.get("/api/v1/sites", headers=headers).status_code == 200
    client.patch(f"/api/v1/operators/{admin.id}", json={"active": False}, headers=world.op)
    assert_error(client.get("/api/v1/sites", headers=headers), 401, "unauthorized")
    reactivated = client.patch(
        f"/api/v1/operators/{admin.id}", json={"active": True}, headers=world.op
    )
    assert reactivated.json()["active"] is True
    assert_error(client.get("/api/v1/sites", headers=headers), 401, "unauthorized")


def test_an_agent_sees_only_the_labels_of_its_sites(client: TestClient) -> None:
    world = api_world(client)
    other_site = new_site(client, world.op)
    other_visitor = visitor_token(client, other_site["site_key"])
    other = start_conversation(client, other_visitor)["conversation"]["id"]
    for conversation_id, names in ((world.conversation["id"], ["mine"]), (other, ["secret"])):
        patched = client.patch(
            f"/api/v1/conversations/{conversation_id}", json={"labels": names}, headers=world.op
        )
        assert patched.status_code == 200
    login(client, quick_operator(client, "agent", site_ids=[world.site["id"]]))
    assert client.get("/api/v1/labels").json() == {"labels": ["mine"]}
    everything = client.get("/api/v1/labels", headers=world.op).json()["labels"]
    assert everything == ["mine", "secret"]
