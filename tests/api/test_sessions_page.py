"""The Sessions page over HTTP (ADR 0030): an operator's signed-in devices, signing one
out or every other one, admins ending colleagues' (an owner's: owners only), the
throttled last-seen time; and owners requiring two-factor sign-in for everyone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatdesk.db.tables import operator_sessions
from tests.api.expect import assert_error
from tests.factories import FakeClock, Operator, add_operator, services_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 6, 12, 0, 5, tzinfo=UTC))


@dataclass
class Device:
    """One browser of an operator: its own session cookie on the shared client."""

    client: TestClient
    operator: Operator
    user_agent: str
    cookies: dict[str, str] = field(default_factory=dict)
    csrf_token: str = ""

    def sign_in(self) -> Device:
        self.client.cookies.clear()
        body = {"email": self.operator.email, "password": self.operator.password}
        answer = self.client.post(
            "/api/v1/auth/login", json=body, headers={"User-Agent": self.user_agent}
        )
        assert answer.status_code == 200, answer.text
        self.cookies, self.csrf_token = dict(self.client.cookies), answer.json()["csrf_token"]
        return self

    def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        self.client.cookies.clear()
        for name, value in self.cookies.items():
            self.client.cookies.set(name, value)
        headers = {"User-Agent": self.user_agent, "X-CSRF-Token": self.csrf_token}
        return self.client.request(method, path, json=json, headers=headers)


def _devices(client: TestClient, role: str, *agents: str) -> list[Device]:
    operator = add_operator(services_db(client), role)
    return [Device(client, operator, agent).sign_in() for agent in agents]


def _listed(device: Device, path: str = "/api/v1/auth/sessions") -> list[dict[str, Any]]:
    answer = device.call("GET", path)
    assert answer.status_code == 200, answer.text
    sessions: list[dict[str, Any]] = answer.json()["sessions"]
    return sessions


def test_an_operator_sees_their_devices_with_browser_ip_and_times(
    tclient: TestClient, clock: FakeClock
) -> None:
    firefox, chrome = _devices(tclient, "agent", FIREFOX, CHROME)
    _devices(tclient, "agent", SAFARI)  # someone else's: never listed
    clock.now += timedelta(minutes=5)
    listed = _listed(chrome)
    # The most recently seen first: Chrome's own request just slid its time.
    assert [(s["device"], s["current"], s["ip"]) for s in listed] == [
        ("Chrome on Windows", True, "testclient"),
        ("Firefox on Linux", False, "testclient"),
    ]
    by_device = {s["device"]: s for s in listed}
    assert set(by_device) == {"Firefox on Linux", "Chrome on Windows"}
    assert by_device["Chrome on Windows"]["user_agent"] == CHROME
    assert by_device["Firefox on Linux"]["signed_in_at"] == "2026-12-06T12:00:05Z"
    # Chrome's request (5 minutes later) slid its last-seen time; Firefox was not used.
    assert by_device["Chrome on Windows"]["last_seen_at"] == "2026-12-06T12:05:05Z"
    assert by_device["Firefox on Linux"]["last_seen_at"] == "2026-12-06T12:00:05Z"
    assert set(listed[0]) == {
        "id",
        "device",
        "user_agent",
        "ip",
        "signed_in_at",
        "last_seen_at",
        "current",
    }
    assert firefox.call("GET", "/api/v1/auth/me").status_code == 200


def test_last_seen_is_written_at_most_once_a_minute(tclient: TestClient, clock: FakeClock) -> None:
    (device,) = _devices(tclient, "agent", FIREFOX)
    db = services_db(tclient)

    def last_seen() -> datetime:
        value = db.read_sync(
            lambda conn: conn.execute(select(operator_sessions.c.last_seen_at)).scalar_one()
        )
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    signed_in = last_seen()
    for seconds in (10, 30, 59):
        clock.now = signed_in + timedelta(seconds=seconds)
        assert device.call("GET", "/api/v1/auth/me").status_code == 200
        assert last_seen() == signed_in  # no write per request
    clock.now = signed_in + timedelta(seconds=61)
    assert device.call("GET", "/api/v1/auth/me").status_code == 200
    assert last_seen() == clock.now


def test_signing_one_device_out_ends_it_at_once_and_is_audit_logged(tclient: TestClient) -> None:
    firefox, chrome, safari = _devices(tclient, "owner", FIREFOX, CHROME, SAFARI)
    target = next(s for s in _listed(chrome) if s["device"] == "Firefox on Linux")
    assert chrome.call("DELETE", f"/api/v1/auth/sessions/{target['id']}").status_code == 204
    assert_error(firefox.call("GET", "/api/v1/auth/me"), 401, "unauthorized")
    assert safari.call("GET", "/api/v1/auth/me").status_code == 200
    assert {s["device"] for s in _listed(chrome)} == {"Chrome on Windows", "Safari on iOS"}
    # Gone already, or never one's own: the same 404.
    assert_error(chrome.call("DELETE", f"/api/v1/auth/sessions/{target['id']}"), 404, "not_found")
    (other,) = _devices(tclient, "agent", CHROME)
    others = _listed(other)[0]["id"]
    assert_error(chrome.call("DELETE", f"/api/v1/auth/sessions/{others}"), 404, "not_found")
    assert other.call("GET", "/api/v1/auth/me").status_code == 200
    entries = chrome.call("GET", "/api/v1/audit-log?action=auth.session_end").json()["entries"]
    assert [(e["target_id"], e["details"]) for e in entries] == [
        (target["id"], {"operator_id": firefox.operator.id, "by": "self"})
    ]


def test_sign_out_everywhere_else_keeps_this_device(tclient: TestClient) -> None:
    firefox, chrome, safari = _devices(tclient, "agent", FIREFOX, CHROME, SAFARI)
    assert safari.call("DELETE", "/api/v1/auth/sessions").status_code == 204
    for ended in (firefox, chrome):
        assert_error(ended.call("GET", "/api/v1/auth/me"), 401, "unauthorized")
    assert [s["device"] for s in _listed(safari)] == ["Safari on iOS"]
    assert safari.call("DELETE", "/api/v1/auth/sessions").status_code == 204  # nothing left
    # Signing this very device out is signing out.
    mine = _listed(safari)[0]["id"]
    assert safari.call("DELETE", f"/api/v1/auth/sessions/{mine}").status_code == 204
    assert_error(safari.call("GET", "/api/v1/auth/me"), 401, "unauthorized")


def test_admins_see_and_end_colleagues_sessions_but_an_owners_only_owners_do(
    tclient: TestClient,
) -> None:
    (admin,) = _devices(tclient, "admin", FIREFOX)
    (owner,) = _devices(tclient, "owner", FIREFOX)
    agent_phone, agent_laptop = _devices(tclient, "agent", SAFARI, CHROME)
    (other_owner,) = _devices(tclient, "owner", CHROME)
    (agent2,) = _devices(tclient, "agent", CHROME)
    agent_id = agent_phone.operator.id
    path = f"/api/v1/operators/{agent_id}/sessions"

    listed = _listed(admin, path)
    assert {s["device"] for s in listed} == {"Safari on iOS", "Chrome on Windows"}
    assert not any(s["current"] for s in listed)
    phone = next(s["id"] for s in listed if s["device"] == "Safari on iOS")
    assert admin.call("DELETE", f"{path}/{phone}").status_code == 204
    assert_error(agent_phone.call("GET", "/api/v1/auth/me"), 401, "unauthorized")
    assert agent_laptop.call("GET", "/api/v1/auth/me").status_code == 200
    assert admin.call("DELETE", path).status_code == 204
    assert_error(agent_laptop.call("GET", "/api/v1/auth/me"), 401, "unauthorized")
    assert _listed(admin, path) == []

    # Another operator's session id under this operator's path: 404, untouched.
    agent2_session = _listed(agent2)[0]["id"]
    assert_error(admin.call("DELETE", f"{path}/{agent2_session}"), 404, "not_found")
    assert agent2.call("GET", "/api/v1/auth/me").status_code == 200

    owner_path = f"/api/v1/operators/{other_owner.operator.id}/sessions"
    assert_error(admin.call("GET", owner_path), 403, "forbidden")
    assert_error(admin.call("DELETE", owner_path), 403, "forbidden")
    assert other_owner.call("GET", "/api/v1/auth/me").status_code == 200
    assert len(_listed(owner, owner_path)) == 1
    assert owner.call("DELETE", owner_path).status_code == 204
    assert_error(other_owner.call("GET", "/api/v1/auth/me"), 401, "unauthorized")

    # Agents manage nobody's; an unknown operator is 404.
    agent2_path = f"/api/v1/operators/{agent2.operator.id}/sessions"
    assert_error(agent2.call("GET", agent2_path), 403, "forbidden")
    assert_error(admin.call("GET", "/api/v1/operators/nope/sessions"), 404, "not_found")
    entries = owner.call("GET", "/api/v1/audit-log?action=auth.session_end").json()["entries"]
    assert {(e["operator_id"], e["details"]["by"]) for e in entries} == {
        (admin.operator.id, "admin"),
        (owner.operator.id, "admin"),
    }
    assert len(entries) == 3


def test_api_tokens_cannot_list_or_end_sessions(tclient: TestClient) -> None:
    (owner,) = _devices(tclient, "owner", FIREFOX)
    made = owner.call("POST", "/api/v1/api-tokens", {"name": "ci", "role": "admin"})
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    tclient.cookies.clear()
    for method, path in [
        ("GET", "/api/v1/auth/sessions"),
        ("DELETE", "/api/v1/auth/sessions"),
        ("GET", f"/api/v1/operators/{owner.operator.id}/sessions"),
        ("DELETE", f"/api/v1/operators/{owner.operator.id}/sessions"),
    ]:
        assert_error(tclient.request(method, path, headers=token), 403, "forbidden")
    assert owner.call("GET", "/api/v1/auth/me").status_code == 200


# Owners require two-factor sign-in for everyone.


def _with_totp(device: Device, clock: FakeClock) -> Device:
    secret = device.call("POST", "/api/v1/auth/totp/setup").json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now)
    assert device.call("POST", "/api/v1/auth/totp/enable", {"code": code}).status_code == 200
    return device


def _require(device: Device, on: bool) -> httpx.Response:
    return device.call("PATCH", "/api/v1/security-policy", {"require_totp": on})


def test_only_owners_change_the_rule_and_it_is_audit_logged(
    tclient: TestClient, clock: FakeClock
) -> None:
    (owner,) = _devices(tclient, "owner", FIREFOX)
    # Not before the owner's own is on (their session would be held back with everyone's).
    assert_error(_require(owner, True), 409, "conflict")
    _with_totp(owner, clock)
    (admin,) = _devices(tclient, "admin", FIREFOX)
    (agent,) = _devices(tclient, "agent", FIREFOX)
    assert admin.call("GET", "/api/v1/security-policy").json() == {"require_totp": False}
    assert_error(agent.call("GET", "/api/v1/security-policy"), 403, "forbidden")
    assert_error(_require(admin, True), 403, "forbidden")
    assert_error(
        owner.call("PATCH", "/api/v1/security-policy", {"require_totp": "yes"}),
        422,
        "validation_error",
    )
    assert_error(
        owner.call("PATCH", "/api/v1/security-policy", {"other": True}), 422, "validation_error"
    )
    assert owner.call("GET", "/api/v1/security-policy").json() == {"require_totp": False}
    on = _require(owner, True)
    assert on.status_code == 200 and on.json() == {"require_totp": True}
    entries = owner.call("GET", "/api/v1/audit-log?action=settings.security_policy").json()
    assert [e["details"] for e in entries["entries"]] == [{"require_totp": True}]


def test_when_required_an_operator_without_it_may_only_set_it_up(
    tclient: TestClient, clock: FakeClock
) -> None:
    (owner,) = _devices(tclient, "owner", FIREFOX)
    (agent,) = _devices(tclient, "agent", CHROME)
    (admin,) = _devices(tclient, "admin", CHROME)
    assert agent.call("GET", "/api/v1/conversations").status_code == 200
    assert _require(_with_totp(owner, clock), True).status_code == 200
    # The rule holds at once, for sessions already signed in too.
    for device in (agent, admin):
        error = assert_error(
            device.call("GET", "/api/v1/conversations"), 403, "totp_setup_required"
        )
        assert "two-factor" in error["message"].lower()
    assert owner.call("GET", "/api/v1/conversations").status_code == 200
    assert_error(agent.call("GET", "/api/v1/auth/sessions"), 403, "totp_setup_required")
    assert_error(agent.call("PATCH", "/api/v1/auth/me", {"name": "X"}), 403, "totp_setup_required")
    assert agent.call("GET", "/api/v1/auth/me").status_code == 200
    # The console sends every page to Account, where the set-up is.
    tclient.cookies.clear()
    for name, value in agent.cookies.items():
        tclient.cookies.set(name, value)
    page = tclient.get("/admin", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/admin/account"
    account = tclient.get("/admin/account")
    assert account.status_code == 200 and 'data-totp-required="1"' in account.text

    secret = agent.call("POST", "/api/v1/auth/totp/setup").json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now)
    assert agent.call("POST", "/api/v1/auth/totp/enable", {"code": code}).status_code == 200
    assert agent.call("GET", "/api/v1/conversations").status_code == 200
    # Signing in again asks for the code, as for anyone with it on.
    clock.now += timedelta(seconds=30)
    assert_error(
        tclient.post(
            "/api/v1/auth/login",
            json={"email": agent.operator.email, "password": agent.operator.password},
        ),
        401,
        "totp_required",
    )
    # While the rule holds, turning one's own off is refused (an admin's reset is not).
    refused = agent.call("POST", "/api/v1/auth/totp/disable", {"password": agent.operator.password})
    assert_error(refused, 409, "conflict")
    assert agent.call("GET", "/api/v1/conversations").status_code == 200
    # Signing out still works while held back; turned off, the rule holds no more.
    assert admin.call("POST", "/api/v1/auth/logout").status_code == 204
    assert _require(owner, False).json() == {"require_totp": False}
    (admin_again,) = [Device(tclient, admin.operator, CHROME).sign_in()]
    assert admin_again.call("GET", "/api/v1/conversations").status_code == 200


def test_api_tokens_are_not_held_back(tclient: TestClient, clock: FakeClock) -> None:
    (owner,) = _devices(tclient, "owner", FIREFOX)
    (admin,) = _devices(tclient, "admin", FIREFOX)
    made = admin.call("POST", "/api/v1/api-tokens", {"name": "ci", "role": "agent"})
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    assert _require(_with_totp(owner, clock), True).status_code == 200
    assert_error(
        admin.call("POST", "/api/v1/api-tokens", {"name": "x", "role": "agent"}),
        403,
        "totp_setup_required",
    )
    tclient.cookies.clear()
    # A token is no sign-in: it keeps working (an admin revokes it as before).
    assert tclient.get("/api/v1/conversations", headers=token).status_code == 200
