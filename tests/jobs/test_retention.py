"""Retention (``CHATDESK_RETENTION_DAYS``): conversations inactive for longer are deleted
with everything about them, by the scheduler's lease holder only, and by ``chatdesk
purge``; recent ones stay."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, or_, select
from typer.testing import CliRunner

from chatdesk.app import create_app
from chatdesk.cli import app as cli
from chatdesk.db.tables import (
    attachments,
    audit_log,
    conversations,
    events,
    messages,
    outbox,
    visitor_tokens,
    visitors,
)
from chatdesk.settings import Settings
from tests.api.world import ApiWorld, api_world
from tests.factories import PDF, csrf, login, start_conversation, visitor_token
from tests.jobs.conftest import until

DAYS = 30


@pytest.fixture
def quick(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "retention_days": DAYS,
            "retention_check_seconds": 0.1,
            "scheduler_poll_seconds": 0.1,
            "scheduler_lease_seconds": 1.0,
            "webhook_allow_private": True,
            "job_retry_base_seconds": 3600,
        }
    )


def _count(url: str, query: Any) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def _old_world(settings: Settings) -> tuple[ApiWorld, str, list[str]]:
    """A conversation with a file, a reply and a webhook delivery, made 40 days ago;
    returns the world, its visitor's id and the outbox's jobs about it."""
    past = datetime.now(UTC) - timedelta(days=DAYS + 10)
    old = settings.model_copy(update={"retention_days": None})
    with TestClient(create_app(old, clock=lambda: past)) as client:
        world = api_world(client)
        cid = world.conversation["id"]
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["message.created"]}
        owner = login(client, world.owner)
        made = client.post("/api/v1/webhooks", json=hook, headers={**world.op, **csrf(owner)})
        assert made.status_code == 201, made.text
        upload = client.post(
            f"/api/v1/widget/conversations/{cid}/attachments",
            files={"file": ("terms.pdf", PDF, "application/pdf")},
            headers=world.visitor,
        )
        assert upload.status_code == 201, upload.text
        sent = client.post(
            f"/api/v1/widget/conversations/{cid}/messages",
            json={
                "body": "see file",
                "client_msg_id": "f1",
                "attachment_ids": [upload.json()["id"]],
            },
            headers=world.visitor,
        )
        assert sent.status_code == 201, sent.text
        until(
            "a webhook delivery is queued",
            lambda: _count(settings.database_url, select(func.count()).select_from(outbox)),
        )
        visitor_id = client.get("/api/v1/widget/visitor", headers=world.visitor).json()["id"]
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        jobs = list(conn.execute(select(outbox.c.id)).scalars())
    engine.dispose()
    return world, visitor_id, jobs


def _no_trace(url: str, cid: str, visitor_id: str, jobs: list[str]) -> None:
    for table, where in (
        (conversations, conversations.c.id == cid),
        (messages, messages.c.conversation_id == cid),
        (attachments, attachments.c.conversation_id == cid),
        (events, or_(events.c.conversation_id == cid, events.c.visitor_id == visitor_id)),
        (outbox, outbox.c.id.in_(jobs)),
        (visitors, visitors.c.id == visitor_id),
        (visitor_tokens, visitor_tokens.c.visitor_id == visitor_id),
    ):
        assert _count(url, select(func.count()).select_from(table).where(where)) == 0, table.name


def _files(settings: Settings) -> list[Path]:
    root = Path(str(settings.files_dir))
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_only_the_lease_holder_deletes_inactive_conversations_and_leaves_no_trace(
    quick: Settings,
) -> None:
    world, visitor_id, jobs = _old_world(quick)
    cid = world.conversation["id"]
    assert _files(quick)
    with ExitStack() as stack:
        apps = [create_app(quick) for _ in range(2)]
        clients = [stack.enter_context(TestClient(a)) for a in apps]
        # A recent conversation on the same site stays.
        recent = start_conversation(
            clients[1], visitor_token(clients[1], world.site["site_key"], name="New")
        )["conversation"]["id"]
        schedulers = [a.state.services.worker.scheduler for a in apps]
        url = quick.database_url
        until(
            "the old conversation is gone",
            lambda: (
                _count(
                    url,
                    select(func.count())
                    .select_from(conversations)
                    .where(conversations.c.id == cid),
                )
                == 0
            ),
        )
        time.sleep(0.5)  # a second deletion, by the other process, would happen now
        done = [s.chores_done["retention"] for s in schedulers]
        assert sorted(done) == [0, 2]  # one conversation and its visitor, by one process
        holder = done.index(2)
        assert schedulers[holder].held and not schedulers[1 - holder].held
    _no_trace(url, cid, visitor_id, jobs)
    assert _files(quick) == []
    assert (
        _count(
            url, select(func.count()).select_from(conversations).where(conversations.c.id == recent)
        )
        == 1
    )
    engine = create_engine(url)
    with engine.connect() as conn:
        (entry,) = conn.execute(
            select(audit_log).where(audit_log.c.action == "retention.expire")
        ).all()
    engine.dispose()
    assert entry.details == {"days": DAYS, "conversations": 1, "visitors": 1, "files": 1}
    assert entry.operator_id is None and entry.target_id is None


def test_purge_applies_retention_when_it_is_set(quick: Settings) -> None:
    world, visitor_id, jobs = _old_world(quick)
    runner = CliRunner()
    env = {"CHATDESK_DATABASE_URL": quick.database_url, "CHATDESK_FILES_DIR": str(quick.files_dir)}
    kept = runner.invoke(cli, ["purge"], env=env)
    assert kept.exit_code == 0, kept.output
    assert "inactive" not in kept.output
    url = quick.database_url
    one = select(func.count()).select_from(conversations)
    assert _count(url, one) == 1
    env["CHATDESK_RETENTION_DAYS"] = str(DAYS + 20)
    assert runner.invoke(cli, ["purge"], env=env).exit_code == 0
    assert _count(url, one) == 1  # 40 days old: within 50 days
    env["CHATDESK_RETENTION_DAYS"] = str(DAYS)
    result = runner.invoke(cli, ["purge"], env=env)
    assert result.exit_code == 0, result.output
    assert (
        f"Removed 1 conversations and 1 visitors inactive for more than {DAYS} days"
        in result.output
    )
    _no_trace(url, world.conversation["id"], visitor_id, jobs)
    assert _files(quick) == []
