"""The webhooks API: create (the secret shown once), list, change, pause, delete, the
deliveries and resending one; URLs refused at creation; agents refused."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Operator, add_operator, csrf, login, make_world, services_db
from tests.jobs.conftest import add_webhook, deliveries

HOOK = "https://hooks.example.com/in"


def _audit(client: TestClient, owner: Operator, action: str) -> list[dict[str, Any]]:
    entries = client.get(f"/api/v1/audit-log?action={action}", headers=csrf(owner))
    assert entries.status_code == 200, entries.text
    found: list[dict[str, Any]] = entries.json()["entries"]
    return found


def test_create_list_change_and_delete(client: TestClient) -> None:
    world = make_world(client)
    owner = world.owner
    made = add_webhook(
        client, owner, HOOK, events=["message.created", "conversation.resolved", "message.created"]
    )
    assert made["secret"].startswith("whsec_") and len(made["secret"]) == 6 + 32
    assert made["events"] == ["conversation.resolved", "message.created"]  # once each, in order
    assert made["site_id"] is None and made["active"] is True
    assert made["include_private"] is False and made["created_by"] == owner.id
    [listed] = client.get("/api/v1/webhooks", headers=csrf(owner)).json()["webhooks"]
    assert "secret" not in listed
    assert listed == {k: v for k, v in made.items() if k != "secret"}

    scoped = add_webhook(client, owner, HOOK, site_id=world.site["id"], include_private=True)
    assert scoped["site_id"] == world.site["id"] and scoped["include_private"] is True

    changed = client.patch(
        f"/api/v1/webhooks/{made['id']}",
        json={"url": "https://other.example.com/x", "events": ["rating.created"], "active": False},
        headers=csrf(owner),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == "https://other.example.com/x"
    assert changed.json()["events"] == ["rating.created"]
    assert changed.json()["active"] is False
    assert "secret" not in changed.json()

    gone = client.delete(f"/api/v1/webhooks/{made['id']}", headers=csrf(owner))
    assert gone.status_code == 204
    again = client.delete(f"/api/v1/webhooks/{made['id']}", headers=csrf(owner))
    assert again.status_code == 404
    assert [h["id"] for h in client.get("/api/v1/webhooks", headers=csrf(owner)).json()[
        "webhooks"]] == [scoped["id"]]  # fmt: skip
    actions = [e["action"] for e in _audit(client, owner, "webhook.create")]
    assert actions == ["webhook.create", "webhook.create"]
    [update] = _audit(client, owner, "webhook.update")
    assert update["details"]["active"] is False and update["target_id"] == made["id"]
    assert len(_audit(client, owner, "webhook.delete")) == 1
    assert "whsec_" not in str(_audit(client, owner, "webhook.create"))


REFUSED_URLS = [
    ("ftp://hooks.example.com/in", "http"),
    ("javascript:alert(1)", "http"),
    ("hooks.example.com/in", "http"),
    ("https://user:pass@hooks.example.com/in", "user name or password"),
    ("https://user@hooks.example.com/in", "user name or password"),
    ("http://127.0.0.1:8080/in", "loopback"),
    ("http://127.1/in", "loopback"),
    ("http://2130706433/in", "loopback"),
    ("http://0x7f000001/in", "loopback"),
    ("http://[::1]/in", "loopback"),
    ("http://[::ffff:127.0.0.1]/in", "loopback"),
    ("http://10.0.0.5/in", "private"),
    ("http://192.168.1.1/in", "private"),
    ("http://172.16.0.1/in", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://100.64.0.1/", "carrier-grade"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://localhost:8000/in", "localhost"),
    ("http://api.localhost/in", "localhost"),
    ("https://hooks.example.com:0/in", "port"),
    ("https://hooks.example.com:99999/in", "URL"),
    ("http://[::1/in", "URL"),
    ("https:///in", "host"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED_URLS)
def test_urls_refused_at_creation(client: TestClient, url: str, why: str) -> None:
    owner = login(client, add_operator(services_db(client), "owner"))
    response = client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["message.created"]}, headers=csrf(owner)
    )
    assert response.status_code == 422, (url, response.text)
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert why in error["message"], error["message"]
    assert client.get("/api/v1/webhooks", headers=csrf(owner)).json()["webhooks"] == []


def test_a_changed_url_is_checked_too(client: TestClient) -> None:
    owner = login(client, add_operator(services_db(client), "owner"))
    made = add_webhook(client, owner, HOOK)
    response = client.patch(
        f"/api/v1/webhooks/{made['id']}",
        json={"url": "http://169.254.169.254/"},
        headers=csrf(owner),
    )
    assert response.status_code == 422
    [listed] = client.get("/api/v1/webhooks", headers=csrf(owner)).json()["webhooks"]
    assert listed["url"] == HOOK


@pytest.mark.parametrize(
    "body",
    [
        {"url": HOOK, "events": []},
        {"url": HOOK, "events": ["message.deleted"]},
        {"url": HOOK, "events": "message.created"},
        {"url": HOOK},
        {"events": ["message.created"]},
        {"url": "https://hooks.example.com/a b", "events": ["message.created"]},
        {"url": "https://hooks.example.com/\x00", "events": ["message.created"]},
        {"url": "https://hooks.example.com/" + "a" * 2000, "events": ["message.created"]},
        {"url": HOOK, "events": ["message.created"], "site_id": "01jzzzzzzzzzzzzzzzzzzzzzzz"},
        {"url": HOOK, "events": ["message.created"], "active": "yes"},
    ],
)
def test_bad_bodies_are_422(client: TestClient, body: dict[str, Any]) -> None:
    owner = login(client, add_operator(services_db(client), "owner"))
    response = client.post("/api/v1/webhooks", json=body, headers=csrf(owner))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


def test_private_addresses_are_accepted_when_allowed(client: TestClient) -> None:
    client.app.state.services.settings.webhook_allow_private = True  # type: ignore[attr-defined]
    owner = login(client, add_operator(services_db(client), "owner"))
    made = add_webhook(client, owner, "http://127.0.0.1:9/in")
    assert made["url"] == "http://127.0.0.1:9/in"
    refused = client.post(
        "/api/v1/webhooks",
        json={"url": "ftp://127.0.0.1/", "events": ["message.created"]},
        headers=csrf(owner),
    )
    assert refused.status_code == 422  # the scheme is still checked


def test_agents_and_agent_tokens_get_403(client: TestClient) -> None:
    db = services_db(client)
    owner = login(client, add_operator(db, "owner"))
    made = add_webhook(client, owner, HOOK)
    agent = login(client, add_operator(db, "agent"))
    for method, path, body in [
        ("GET", "/api/v1/webhooks", None),
        ("POST", "/api/v1/webhooks", {"url": HOOK, "events": ["message.created"]}),
        ("PATCH", f"/api/v1/webhooks/{made['id']}", {"active": False}),
        ("DELETE", f"/api/v1/webhooks/{made['id']}", None),
        ("GET", f"/api/v1/webhooks/{made['id']}/deliveries", None),
    ]:
        response = client.request(method, path, json=body, headers=csrf(agent))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    owner = login(client, owner)
    [listed] = client.get("/api/v1/webhooks", headers=csrf(owner)).json()["webhooks"]
    assert listed["active"] is True


def _wait_deliveries(
    client: TestClient, owner: Operator, webhook_id: str, count: int
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        found = deliveries(client, owner, webhook_id)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_deliveries_and_resend(client: TestClient) -> None:
    world = make_world(client)
    owner = world.owner
    # hooks.example.com does not resolve here: the delivery stays pending, retried later.
    made = add_webhook(client, owner, HOOK, events=["conversation.updated"])
    patched = client.patch(
        f"/api/v1/conversations/{world.conversation['id']}",
        json={"status": "pending"},
        headers=csrf(owner),
    )
    assert patched.status_code == 200
    [delivery] = _wait_deliveries(client, owner, made["id"], 1)
    assert delivery["event_type"] == "conversation.updated"
    assert delivery["status"] in ("pending", "failed")
    assert delivery["id"].startswith("msg_")
    resent = client.post(
        f"/api/v1/webhooks/{made['id']}/deliveries/{delivery['id']}/resend", headers=csrf(owner)
    )
    assert resent.status_code == 202, resent.text
    assert resent.json()["id"] == delivery["id"] and resent.json()["status"] == "pending"
    [entry] = _audit(client, owner, "webhook.resend")
    assert entry["details"] == {"delivery_id": delivery["id"]}
    # Another webhook's delivery id, or one that does not exist: the same 404.
    other = add_webhook(client, owner, HOOK)
    for path in (
        f"/api/v1/webhooks/{other['id']}/deliveries/{delivery['id']}/resend",
        f"/api/v1/webhooks/{made['id']}/deliveries/msg_01jzzzzzzzzzzzzzzzzzzzzzzz/resend",
    ):
        response = client.post(path, headers=csrf(owner))
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    limited = client.get(f"/api/v1/webhooks/{made['id']}/deliveries?limit=0", headers=csrf(owner))
    assert limited.status_code == 422
    # Deleting the webhook removes its deliveries.
    assert client.delete(f"/api/v1/webhooks/{made['id']}", headers=csrf(owner)).status_code == 204
    response = client.post(
        f"/api/v1/webhooks/{made['id']}/deliveries/{delivery['id']}/resend", headers=csrf(owner)
    )
    assert response.status_code == 404
