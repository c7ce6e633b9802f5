"""SQLite's file unwritable or its disk full: 503 ``unavailable`` with ``Retry-After``, one
log line per cause, readiness ``failing`` without writing, and writes resume by
themselves once the file can be written again, with no restart.

Root may write any file whatever its mode, so the tests make the file really
unwritable with the immutable attribute (``chattr +i``), and a full disk with a
small tmpfs of their own (``mount``), as CI runs them (as root).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings
from tests.api.expect import assert_error
from tests.api.world import ApiWorld, api_world
from tests.log_guard import LineRecorder, logged

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: chattr +i and mounting a tmpfs"
)


def sqlite_settings(path: Path, **overrides: object) -> Settings:
    return Settings(
        env="test",
        database_url=f"sqlite:///{path}",
        log_format="json",
        rate_limits="off",
        event_poll_seconds=0.5,
        **overrides,  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def say(client: TestClient, world: ApiWorld, client_msg_id: str, body: str = "Hi") -> int:
    response = client.post(
        f"/api/v1/widget/conversations/{world.conversation['id']}/messages",
        json={"body": body, "client_msg_id": client_msg_id},
        headers=world.visitor,
    )
    if response.status_code == 503:
        error = assert_error(response, 503, "unavailable")
        assert int(response.headers["retry-after"]) == error["details"]["retry_after"] >= 1
    return response.status_code


def checks(client: TestClient) -> tuple[int, dict[str, dict[str, str]]]:
    response = client.get("/readyz")
    return response.status_code, response.json()["checks"]


def a_world_with_one_message(settings: Settings) -> ApiWorld:
    """An owner, a site and a visitor's conversation with one message, by a server that
    has stopped since (its tokens serve the next one)."""
    with TestClient(create_app(settings)) as client:
        world = api_world(client)
        assert say(client, world, "before") == 201
    return world


def test_a_server_started_on_an_unwritable_file_serves_reads_and_writes_once_it_is_writable(
    tmp_path: Path, recorder: LineRecorder
) -> None:
    path = tmp_path / "chatdesk.db"
    settings = sqlite_settings(path)
    world = a_world_with_one_message(settings)
    with contextlib.ExitStack() as unwritable:
        unwritable.enter_context(immutable(path))
        with TestClient(create_app(settings)) as client:
            # It starts, says why writes will fail, and serves what it can: reads.
            assert len(logged(recorder, "the database file is not writable")) == 1
            listing = client.get("/api/v1/conversations", headers=world.op)
            assert listing.status_code == 200 and listing.json()["conversations"]
            status, found = checks(client)
            assert status == 503, found
            assert found["disk"] == {
                "status": "failing",
                "detail": "the database file is not writable",
            }
            assert found["database"] == {"status": "ok"}
            # Writes answer 503, however many, with one log line for the cause.
            assert [say(client, world, "during") for _ in range(5)] == [503] * 5
            writer = checks(client)[1]["writer"]
            assert writer == {"status": "failing", "detail": "writes fail: read only"}
            assert len(logged(recorder, "database unavailable (read_only)")) == 1
            unwritable.close()  # writable again, the same server running
            assert say(client, world, "during") == 201
            assert say(client, world, "during") == 200  # a repeat: stored once
            status, found = checks(client)
            assert status == 200 and {c["status"] for c in found.values()} == {"ok"}, found
    assert not logged(recorder, "Traceback") and not logged(recorder, "write batch failed")


def test_writes_resume_without_a_restart_once_the_file_is_writable_again(
    tmp_path: Path, recorder: LineRecorder
) -> None:
    path = tmp_path / "chatdesk.db"
    settings = sqlite_settings(path)
    world = a_world_with_one_message(settings)
    with TestClient(create_app(settings)) as client:
        with immutable(path):
            # The writer opens its connection at its first write: read-only, now.
            assert say(client, world, "during") == 503
            assert say(client, world, "during") == 503
            assert checks(client)[0] == 503
        # Writable again: the same server, the same writer, stores the message; the retry
        # of the refused one is stored once (nothing of it was written before).
        assert say(client, world, "during") == 201
        assert say(client, world, "during") == 200
        status, found = checks(client)
        assert status == 200 and {c["status"] for c in found.values()} == {"ok"}, found
    assert len(logged(recorder, "database unavailable (read_only)")) == 1
    assert len(logged(recorder, "database available again")) == 1
    assert not logged(recorder, "Traceback") and not logged(recorder, "write batch failed")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 8 MiB of the test's own."""
    folder = tmp_path / "disk"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def truncate_wal(database: Path) -> None:
    """Every page of the WAL copied into the database file, and the WAL cut to nothing."""
    connection = sqlite3.connect(database, timeout=10)
    try:
        busy, _frames, _done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    assert busy == 0
    assert (database.parent / f"{database.name}-wal").stat().st_size == 0


def fill(folder: Path) -> Path:
    """A file that takes every free byte of ``folder``'s disk."""
    filler = folder / "filler"
    # Unbuffered: a block the disk took only part of leaves nothing behind to flush.
    with filler.open("wb", buffering=0) as out:
        block = b"\0" * 65536
        try:
            while True:
                out.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_answers_503_and_readiness_fails_until_space_returns(
    small_disk: Path, recorder: LineRecorder
) -> None:
    settings = sqlite_settings(small_disk / "chatdesk.db", disk_min_free_mb=1)
    with TestClient(create_app(settings)) as client:
        world = api_world(client)
        assert say(client, world, "before") == 201
        assert checks(client)[0] == 200
        # An empty WAL first: otherwise a background checkpoint may end between two
        # writes and let the second reuse the WAL's pages, which needs no new space.
        truncate_wal(small_disk / "chatdesk.db")
        filler = fill(small_disk)
        status, found = checks(client)  # noticed without a single write
        assert status == 503 and found["disk"]["status"] == "failing", found
        assert "disk is full" in found["disk"]["detail"]
        # Long messages until the database needs a page the disk has not got.
        refused = None
        for n in range(400):
            if say(client, world, f"big-{n}", "x" * 4000) == 503:
                refused = f"big-{n}"
                break
        assert refused is not None, "the disk never filled"
        assert say(client, world, refused, "x" * 4000) == 503
        writer = checks(client)[1]["writer"]
        assert writer == {"status": "failing", "detail": "writes fail: disk full"}, writer
        filler.unlink()
        time.sleep(0.1)
        assert say(client, world, refused, "x" * 4000) == 201  # stored now, and only now
        status, found = checks(client)
        assert status == 200 and {c["status"] for c in found.values()} == {"ok"}, found
    assert len(logged(recorder, "database unavailable (disk_full)")) == 1, recorder.lines
    assert not logged(recorder, "Traceback") and not logged(recorder, "write batch failed")
