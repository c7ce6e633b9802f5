"""Two-factor sign-in with TOTP over HTTP (ADR 0022), with real pyotp codes and an
injected clock: setup, enable, the second step of signing in, replay, drift, recovery
codes, disabling, the audit log, and the secret kept out of every other answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, select

from chatdesk.app import create_app
from chatdesk.db.migrate import current_revision, head_revision
from chatdesk.db.tables import operator_recovery_codes, operator_totp
from chatdesk.settings import Settings
from tests.api.expect import assert_error, signed_in_as
from tests.factories import FakeClock, Operator, add_operator, csrf, login, services_db

STEP = timedelta(seconds=30)


@pytest.fixture
def clock() -> FakeClock:
    """Starts 5 s into a 30-second step, so one step forward or back is a whole step."""
    return FakeClock(datetime(2026, 12, 6, 12, 0, 5, tzinfo=UTC))


def _code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def _set_up(client: TestClient, operator: Operator) -> str:
    made = client.post("/api/v1/auth/totp/setup", headers=csrf(operator))
    assert made.status_code == 200, made.text
    secret: str = made.json()["secret"]
    return secret


def _enabled(client: TestClient, operator: Operator, clock: FakeClock) -> tuple[str, list[str]]:
    """(secret, recovery codes) of ``operator`` with TOTP on; the current step is used."""
    secret = _set_up(client, operator)
    on = client.post(
        "/api/v1/auth/totp/enable", json={"code": _code(secret, clock.now)}, headers=csrf(operator)
    )
    assert on.status_code == 200, on.text
    return secret, on.json()["recovery_codes"]


def _login(client: TestClient, operator: Operator, code: str | None = None) -> Any:
    body: dict[str, Any] = {"email": operator.email, "password": operator.password}
    if code is not None:
        body["totp_code"] = code
    client.cookies.clear()
    return client.post("/api/v1/auth/login", json=body)


def test_setup_gives_a_secret_and_an_otpauth_uri_and_is_not_on_yet(tclient: TestClient) -> None:
    owner = signed_in_as(tclient, "owner")
    made = tclient.post("/api/v1/auth/totp/setup", headers=csrf(owner))
    assert made.status_code == 200, made.text
    body = made.json()
    assert set(body) == {"secret", "otpauth_uri"}
    uri = urlsplit(body["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert unquote(uri.path) == f"/chatdesk:{owner.email}"
    query = parse_qs(uri.query)
    assert query["secret"] == [body["secret"]] and query["issuer"] == ["chatdesk"]
    assert len(body["secret"]) == 32
    # Pending only: signing in still needs the password alone, and the profile says off.
    assert tclient.get("/api/v1/auth/me").json()["operator"]["totp_enabled"] is False
    assert _login(tclient, owner).status_code == 200


def test_enable_checks_the_code_and_gives_ten_recovery_codes(
    tclient: TestClient, clock: FakeClock
) -> None:
    owner = signed_in_as(tclient, "owner")
    nothing = tclient.post("/api/v1/auth/totp/enable", json={"code": "123456"}, headers=csrf(owner))
    assert_error(nothing, 409, "conflict")
    secret = _set_up(tclient, owner)
    wrong = _code(secret, clock.now + 5 * STEP)
    refused = tclient.post("/api/v1/auth/totp/enable", json={"code": wrong}, headers=csrf(owner))
    assert assert_error(refused, 422, "validation_error")["details"] == {"field": "code"}
    on = tclient.post(
        "/api/v1/auth/totp/enable", json={"code": _code(secret, clock.now)}, headers=csrf(owner)
    )
    assert on.status_code == 200, on.text
    codes = on.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    # The session that turned it on keeps working; the profile says on.
    assert tclient.get("/api/v1/auth/me").json()["operator"]["totp_enabled"] is True
    # Set up again while on: refused, the active secret kept.
    assert_error(tclient.post("/api/v1/auth/totp/setup", headers=csrf(owner)), 409, "conflict")
    again = tclient.post(
        "/api/v1/auth/totp/enable", json={"code": _code(secret, clock.now)}, headers=csrf(owner)
    )
    assert_error(again, 409, "conflict")
    # Stored hashed only.
    with services_db(tclient).write_engine.connect() as conn:
        hashes = conn.execute(select(operator_recovery_codes.c.code_hash)).scalars().all()
    assert len(hashes) == 10 and not set(hashes) & set(codes)


def test_sign_in_needs_the_code_and_answers_alike_without_it_and_with_a_wrong_one(
    tclient: TestClient, clock: FakeClock
) -> None:
    owner = signed_in_as(tclient, "owner")
    secret, _ = _enabled(tclient, owner, clock)
    without = _login(tclient, owner)
    assert_error(without, 401, "totp_required")
    assert "set-cookie" not in without.headers
    wrong = _login(tclient, owner, _code(secret, clock.now + 7 * STEP))
    assert wrong.json() == without.json() and wrong.status_code == 401
    not_a_code = _login(tclient, owner, "not-a-code")
    assert not_a_code.json() == without.json()
    # A wrong password keeps its own answer, code or not.
    owner_wrong = Operator(owner.id, owner.email, owner.password + "x", "owner")
    bad = _login(tclient, owner_wrong, _code(secret, clock.now + STEP))
    assert_error(bad, 401, "unauthorized")
    assert bad.json()["error"]["message"] == "Wrong email or password."
    # The right code of a step not used yet signs in.
    clock.now += STEP
    right = _login(tclient, owner, _code(secret, clock.now))
    assert right.status_code == 200, right.text
    assert right.json()["operator"]["totp_enabled"] is True
    assert tclient.get("/api/v1/auth/me").status_code == 200


def test_a_code_is_good_once_and_one_step_of_drift_either_way(
    tclient: TestClient, clock: FakeClock
) -> None:
    owner = signed_in_as(tclient, "owner")
    secret, _ = _enabled(tclient, owner, clock)  # the current step is used by enabling
    assert_error(_login(tclient, owner, _code(secret, clock.now)), 401, "totp_required")
    # The phone runs a step ahead: accepted.
    ahead = _code(secret, clock.now + STEP)
    assert _login(tclient, owner, ahead).status_code == 200
    # The same code again, within its window: refused (replay).
    assert_error(_login(tclient, owner, ahead), 401, "totp_required")
    # Three steps later, the phone runs a step behind: accepted.
    clock.now += 3 * STEP
    assert _login(tclient, owner, _code(secret, clock.now - STEP)).status_code == 200
    # Two steps off either way: refused.
    assert_error(_login(tclient, owner, _code(secret, clock.now + 2 * STEP)), 401, "totp_required")
    clock.now += 3 * STEP
    assert_error(_login(tclient, owner, _code(secret, clock.now - 2 * STEP)), 401, "totp_required")
    # A code with spaces, as apps show it.
    code = _code(secret, clock.now)
    assert _login(tclient, owner, f"{code[:3]} {code[3:]}").status_code == 200


def test_a_recovery_code_signs_in_once_and_is_audit_logged(
    tclient: TestClient, clock: FakeClock
) -> None:
    owner = signed_in_as(tclient, "owner")
    _, codes = _enabled(tclient, owner, clock)
    typed = codes[0].upper().replace("-", " ")
    assert _login(tclient, owner, typed).status_code == 200
    assert_error(_login(tclient, owner, codes[0]), 401, "totp_required")
    assert _login(tclient, owner, codes[1]).status_code == 200
    entries = tclient.get("/api/v1/audit-log?limit=200").json()["entries"]
    used = [e for e in entries if e["action"] == "auth.recovery_code_used"]
    assert len(used) == 2 and {e["details"]["left"] for e in used} == {8, 9}
    actions = [e["action"] for e in entries]
    assert "auth.totp_enable" in actions
    failed = [e for e in entries if e["action"] == "auth.login_failed"]
    assert failed and failed[0]["details"]["reason"] == "totp"
    for code in codes:
        assert code not in str(entries)


def test_disable_needs_the_password(tclient: TestClient, clock: FakeClock) -> None:
    owner = signed_in_as(tclient, "owner")
    secret, _ = _enabled(tclient, owner, clock)
    wrong = tclient.post(
        "/api/v1/auth/totp/disable", json={"password": "pw-not-mine-at-all"}, headers=csrf(owner)
    )
    assert_error(wrong, 403, "forbidden")
    assert tclient.get("/api/v1/auth/me").json()["operator"]["totp_enabled"] is True
    off = tclient.post(
        "/api/v1/auth/totp/disable", json={"password": owner.password}, headers=csrf(owner)
    )
    assert off.status_code == 204, off.text
    assert tclient.get("/api/v1/auth/me").json()["operator"]["totp_enabled"] is False
    # The password alone signs in again; the old recovery codes are gone.
    assert _login(tclient, owner).status_code == 200
    owner.csrf_token = tclient.get("/api/v1/auth/me").json()["csrf_token"]
    actions = [e["action"] for e in tclient.get("/api/v1/audit-log").json()["entries"]]
    assert "auth.totp_disable" in actions
    with services_db(tclient).write_engine.connect() as conn:
        assert conn.execute(select(operator_recovery_codes)).all() == []
        assert conn.execute(select(operator_totp)).all() == []
    # And it can be set up again, with a new secret.
    assert _set_up(tclient, owner) != secret


def test_api_tokens_cannot_touch_it_and_keep_working(tclient: TestClient, clock: FakeClock) -> None:
    owner = signed_in_as(tclient, "owner")
    made = tclient.post(
        "/api/v1/api-tokens", json={"name": "ci", "role": "admin"}, headers=csrf(owner)
    )
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    _enabled(tclient, owner, clock)
    cookies = dict(tclient.cookies)
    tclient.cookies.clear()
    for path, body in [
        ("/api/v1/auth/totp/setup", None),
        ("/api/v1/auth/totp/enable", {"code": "123456"}),
        ("/api/v1/auth/totp/disable", {"password": owner.password}),
    ]:
        assert_error(tclient.post(path, json=body, headers=token), 403, "forbidden")
    assert tclient.get("/api/v1/conversations", headers=token).status_code == 200
    tclient.cookies.update(cookies)
    assert tclient.get("/api/v1/auth/me").json()["operator"]["totp_enabled"] is True


def test_the_secret_is_sealed_at_rest_and_in_no_other_answer(
    tclient: TestClient, clock: FakeClock
) -> None:
    owner = signed_in_as(tclient, "owner")
    secret, _ = _enabled(tclient, owner, clock)
    with services_db(tclient).write_engine.connect() as conn:
        row = conn.execute(select(operator_totp)).one()
    assert row.secret.startswith("v1.") and secret not in row.secret
    assert row.pending_secret is None
    for path in ("/api/v1/auth/me", "/api/v1/operators", "/api/v1/audit-log"):
        answer = tclient.get(path)
        assert answer.status_code == 200 and secret not in answer.text, path


def test_a_changed_secret_key_refuses_codes_rather_than_failing(
    settings: Settings, clock: FakeClock
) -> None:
    with TestClient(create_app(settings, clock=clock)) as client:
        owner = signed_in_as(client, "owner")
        secret, codes = _enabled(client, owner, clock)
    rekeyed = settings.model_copy(update={"secret_key": SecretStr("another-key-" + "x" * 32)})
    clock.now += STEP
    with TestClient(create_app(rekeyed, clock=clock)) as client:
        assert_error(_login(client, owner, _code(secret, clock.now)), 401, "totp_required")
        # Recovery codes do not depend on the key.
        assert _login(client, owner, codes[0]).status_code == 200


def test_wrong_codes_count_against_the_sign_in_limit_and_asking_does_not(
    settings: Settings, clock: FakeClock
) -> None:
    limited = settings.model_copy(
        update={"rate_limits": "on", "rate_limit_login_account_ip": "3/5minute"}
    )
    with TestClient(create_app(limited, clock=clock)) as client:
        owner = signed_in_as(client, "owner")
        secret, _ = _enabled(client, owner, clock)
        for _ in range(4):  # no code: the password was right and nothing was guessed
            assert_error(_login(client, owner), 401, "totp_required")
        clock.now += STEP
        assert _login(client, owner, _code(secret, clock.now)).status_code == 200
        for _ in range(3):
            assert_error(_login(client, owner, "000000"), 401, "totp_required")
        clock.now += STEP
        assert_error(_login(client, owner, _code(secret, clock.now)), 429, "rate_limited")


def test_the_database_is_migrated_to_the_totp_tables(settings: Settings) -> None:
    with TestClient(create_app(settings)):
        pass
    engine = create_engine(settings.database_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(select(operator_totp)).all() == []
    finally:
        engine.dispose()


def test_admins_reset_an_agents_second_factor_owners_an_admins_and_nobody_an_owners(
    tclient: TestClient, clock: FakeClock
) -> None:
    db = services_db(tclient)
    owner, admin, agent, other_owner = (
        add_operator(db, role) for role in ("owner", "admin", "agent", "owner")
    )
    secrets_of = {}
    for person in (owner, admin, agent, other_owner):
        login(tclient, person)
        secrets_of[person.id], _ = _enabled(tclient, person, clock)
        clock.now += STEP  # each enable spends its step

    def reset(by: Operator, target: Operator) -> Any:
        signed_in = _login(tclient, by, _code(secrets_of[by.id], clock.now))
        assert signed_in.status_code == 200, signed_in.text
        clock.now += STEP
        by.csrf_token = signed_in.json()["csrf_token"]
        return tclient.delete(f"/api/v1/operators/{target.id}/totp", headers=csrf(by))

    assert_error(reset(agent, admin), 403, "forbidden")  # agents reset nobody's
    assert_error(reset(admin, owner), 403, "forbidden")  # an owner's only on the server
    assert_error(reset(owner, other_owner), 403, "forbidden")
    assert_error(reset(admin, admin), 403, "forbidden")  # one's own: under Account
    assert reset(admin, agent).status_code == 204
    assert _login(tclient, agent).status_code == 200  # the password alone, now
    assert_error(reset(admin, agent), 409, "conflict")  # nothing left to turn off
    assert reset(owner, admin).status_code == 204
    assert _login(tclient, admin).status_code == 200

    assert_error(_login(tclient, other_owner), 401, "totp_required")  # untouched
    signed_in = _login(tclient, owner, _code(secrets_of[owner.id], clock.now))
    assert signed_in.status_code == 200
    entries = tclient.get("/api/v1/audit-log?action=auth.totp_reset").json()["entries"]
    assert [(e["operator_id"], e["target_id"], e["details"]) for e in entries] == [
        (owner.id, admin.id, {"by": "admin"}),
        (admin.id, agent.id, {"by": "admin"}),
    ]
