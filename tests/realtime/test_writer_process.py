"""SQLite's writer process (ADRs 0006-0008): what is its own beyond the writer contract.

The contract every writer keeps is tested in test_writer_contract.py. Here:
units run in another process with the server's clock; a dead child fails its
callers with 503 and is replaced; the home loop sends a burst in slices and
never waits for a stalled child; the framing; stopping answers a backlog
larger than the socket holds, and ends the child even when the home loop is
stuck.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvloop
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatdesk.db.framing import frames, header
from chatdesk.db.migrate import upgrade
from chatdesk.db.runner import Database
from chatdesk.db.tables import meta
from chatdesk.db.writer_pipe import TURN_UNITS, ChildPipe
from chatdesk.db.writer_process import ProcessWriter
from chatdesk.errors import WriterUnavailable
from tests.api.world import api_world
from tests.event_loops import run_coroutine
from tests.factories import services_db
from tests.realtime import units

FIXED = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("the writer process is SQLite's; PostgreSQL always uses the writer thread")
    return database_url


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url, writer="process", clock=lambda: FIXED)
    upgrade(database.write_engine)
    database.start()
    yield database
    database.stop()


def keys(db: Database) -> set[str]:
    return set(db.read_sync(lambda conn: conn.execute(select(meta.c.key)).scalars().all()))


def writer_of(db: Database) -> ProcessWriter:
    writer = db._writer
    assert isinstance(writer, ProcessWriter)
    return writer


def pipe_of(db: Database) -> ChildPipe:
    pipe = writer_of(db)._pipe
    assert pipe is not None
    return pipe


def wait_for_a_new_child(db: Database, dead_pid: int | None) -> None:
    """Until the writer process that replaced ``dead_pid`` is adopted (10 s at most)."""
    deadline = time.monotonic() + 10
    while db.writer_pid in (None, dead_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert db.writer_pid not in (None, dead_pid)


def test_units_run_in_another_process_with_the_servers_clock(db: Database) -> None:
    pid, now, _event, _batch = db.write_sync(units.put, "a")
    assert db.writer_pid is not None and pid == db.writer_pid != os.getpid()
    assert now == FIXED and now.tzinfo is not None
    assert keys(db) == {"a"}


def test_the_child_logs_through_the_servers_logging(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The child sets up the server's logging when it first logs (JSON lines here)."""
    broken = Database(
        f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}",
        writer="process",
        log_config=("json", "warning", False),
    )
    broken.start()
    try:
        with pytest.raises(Exception, match="unable to open database"):
            broken.write_sync(units.put, "z")
    finally:
        broken.stop()
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "{" in line[:1]]
    # A missing file is an outage, which the server logs once where it meets it; the
    # child's own line is its checkpoint thread's, which cannot open the file either.
    assert not [line for line in lines if line.get("event") == "write batch failed"]
    logged = [line for line in lines if "WAL checkpoints of" in line.get("event", "")]
    assert logged and logged[0]["logger"] == "chatdesk.db" and logged[0]["level"] == "warning"
    assert "unable to open database" in logged[0]["exception"]


def test_a_killed_writer_fails_its_callers_and_is_replaced(db: Database) -> None:
    first_pid = db.writer_pid
    assert first_pid is not None
    slow = db.submit(units.sleep_then_put, "slow", 5.0)
    time.sleep(0.3)  # the child is inside the slow unit
    os.kill(first_pid, signal.SIGKILL)
    with pytest.raises(WriterUnavailable):
        slow.result(timeout=10)
    wait_for_a_new_child(db, first_pid)
    pid, _now, _event, _batch = db.write_sync(units.put, "after-restart")
    assert pid == db.writer_pid
    # The killed unit never committed; the new child's did.
    assert keys(db) == {"after-restart"}


def test_stopping_answers_what_was_sent_and_checkpoints(sqlite_url: str) -> None:
    db = Database(sqlite_url, writer="process")
    upgrade(db.write_engine)
    db.start()
    pid = db.writer_pid
    futures: list[Future[Any]] = [db.submit(units.put, f"s{n}", event=True) for n in range(200)]
    assert db.writer_alive
    db.stop()
    assert not db.writer_alive
    assert all(f.result(timeout=0)[0] == pid for f in futures)
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # The last checkpoint moved everything into the database file and emptied the WAL.
    wal = Path(sqlite_url.removeprefix("sqlite:///") + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    reopened = Database(sqlite_url)
    reopened.start()
    try:
        assert keys(reopened) == {f"s{n}" for n in range(200)}
    finally:
        reopened.stop()


def test_a_stopped_writer_shows_in_readyz_and_writes_answer_503(client: TestClient) -> None:
    db = services_db(client)
    if db.writer != "process":
        pytest.skip("the writer process is SQLite's")
    world = api_world(client)
    process = writer_of(db)
    process.stop()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "failing"
    assert ready.json()["checks"]["writer"] == {
        "status": "failing",
        "detail": "the database writer is not running",
    }
    assert ready.json()["checks"]["database"] == {"status": "ok"}  # reads still work
    path = f"/api/v1/widget/conversations/{world.conversation['id']}/messages"
    sent = client.post(path, json={"body": "hello", "client_msg_id": "m-1"}, headers=world.visitor)
    assert sent.status_code == 503
    assert sent.json()["error"]["code"] == "unavailable"
    process.start()
    again = client.post(path, json={"body": "hello", "client_msg_id": "m-1"}, headers=world.visitor)
    assert again.status_code == 201
    assert client.get("/readyz").status_code == 200


def test_a_broken_socket_fails_its_callers_and_a_new_child_takes_over(db: Database) -> None:
    transport = pipe_of(db).transport
    first_pid = db.writer_pid
    assert transport is not None
    transport.get_extra_info("socket").shutdown(socket.SHUT_WR)  # the server's sends now fail
    future = db.submit(units.put, "unsent")
    with pytest.raises(WriterUnavailable):
        future.result(timeout=10)
    wait_for_a_new_child(db, first_pid)
    db.write_sync(units.put, "sent")
    assert keys(db) == {"sent"}


# The server runs on uvloop; asyncio's own loop is what start() makes without one.
LOOPS = pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])


@LOOPS
def test_a_burst_from_the_home_loop_leaves_in_slices_and_is_all_answered(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, loop_factory: Any
) -> None:
    count = TURN_UNITS * 5 + 3
    slices: list[tuple[int, bool]] = []

    async def burst() -> list[Any]:
        db = Database(sqlite_url, writer="process")
        db.start(asyncio.get_running_loop())  # the writer's home loop
        try:
            assert writer_of(db)._home is asyncio.get_running_loop()
            pipe = pipe_of(db)
            send = pipe.send

            def counted(items: Any) -> None:  # sees each message as it is sent
                slices.append((len(items), pipe.flush_scheduled))
                send(items)

            monkeypatch.setattr(pipe, "send", counted)
            return await asyncio.gather(*(db.write(units.put, f"b{n}") for n in range(count)))
        finally:
            await db.aclose()

    upgrade(Database(sqlite_url).write_engine)
    results = run_coroutine(burst, loop_factory)
    # The first slices left while the turn was still taking units, the rest at its end.
    assert slices == [(TURN_UNITS, True)] * 5 + [(3, False)]
    assert len(results) == count and len({pid for pid, *_ in results}) == 1
    reopened = Database(sqlite_url)
    reopened.start()
    try:
        assert keys(reopened) == {f"b{n}" for n in range(count)}
    finally:
        reopened.stop()


@LOOPS
def test_a_stalled_writer_never_blocks_the_home_loop(sqlite_url: str, loop_factory: Any) -> None:
    count, size = 40, 200_000  # 8 MB of units: far more than the socket holds

    async def scenario() -> tuple[float, bool, list[Any], bool]:
        db = Database(sqlite_url, writer="process")
        db.start(asyncio.get_running_loop())
        try:
            pipe = pipe_of(db)
            await db.write(
                units.put, "warm"
            )  # the child is up (a fresh interpreter, slow to start)
            stall = asyncio.ensure_future(db.write(units.sleep_then_put, "stall", 3.0))
            await asyncio.sleep(0.5)  # the child is inside the slow unit, reading nothing
            big = [db.write(units.put_value, f"big{n}", "x" * size) for n in range(count)]
            sent = asyncio.gather(stall, *big)
            started = time.monotonic()
            await asyncio.sleep(0.05)  # the loop keeps turning while the socket is full
            lag = time.monotonic() - started
            transport = pipe.transport
            assert transport is not None
            waiting = pipe.paused and transport.get_write_buffer_size() > 0
            results = await sent
            drained = not pipe.paused and transport.get_write_buffer_size() == 0
            return lag, waiting, results, drained
        finally:
            await db.aclose()

    upgrade(Database(sqlite_url).write_engine)
    lag, waiting, results, drained = run_coroutine(scenario, loop_factory)
    assert waiting  # part of the units waited in the transport's buffer for the child
    assert lag < 0.5  # a blocking send would have held the loop until the child read
    assert results[1:] == [size] * count
    assert drained


def test_answers_are_framed_as_multiprocessing_frames_them() -> None:
    left, right = multiprocessing.Pipe()
    try:
        left.send_bytes(b"hello")
        left.send_bytes(b"")
        wire = bytearray(os.read(right.fileno(), 100))
    finally:
        left.close()
        right.close()
    assert bytes(wire) == header(5) + b"hello" + header(0)
    long_form = struct.pack("!i", -1) + struct.pack("!Q", 3) + b"abc"  # frames over 2 GiB
    buffer = wire + long_form + header(4) + b"pa"  # the last frame not whole yet
    assert list(frames(buffer)) == [b"hello", b"", b"abc"]
    assert bytes(buffer) == header(4) + b"pa"
    buffer += b"rt"
    assert list(frames(buffer)) == [b"part"] and not buffer
    assert header(3 << 31) == long_form[:4] + struct.pack("!Q", 3 << 31)


def test_stopping_with_a_backlog_answers_every_unit(sqlite_url: str) -> None:
    """More units and answers than the socket holds: stop() must send the units while
    it reads the answers, or the two ends end up waiting on each other."""
    count = 30_000
    db = Database(sqlite_url, writer="process")
    upgrade(db.write_engine)
    db.start()
    stall = db.submit(units.sleep_then_put, "stall", 1.0)
    futures = [db.submit(units.put, f"k{n}") for n in range(count)]
    time.sleep(0.2)  # all handed over; the child, in the slow unit, reads nothing
    process = writer_of(db)
    process.stop(120)  # ample time; waiting on each other, the two ends would use it all
    db.stop()
    assert stall.result(timeout=0)[0] > 0
    assert all(f.exception(timeout=0) is None for f in futures)


def test_a_blocking_write_from_the_home_loop_is_refused_and_a_stopped_writer_refuses_units(
    sqlite_url: str,
) -> None:
    async def scenario() -> None:
        db = Database(sqlite_url, writer="process")
        db.start(asyncio.get_running_loop())
        try:
            with pytest.raises(RuntimeError, match="wait forever"):
                db.write_sync(units.put, "deadlock")  # would wait on its own loop forever
            assert await db.write(units.put, "fine")
            await writer_of(db).aclose()
            late = db.submit(units.put, "late")  # from this thread, after the stop
            with pytest.raises(WriterUnavailable):
                late.result(timeout=0)
            with pytest.raises(WriterUnavailable):
                await db.write(units.put, "later")
        finally:
            await db.aclose()

    upgrade(Database(sqlite_url).write_engine)
    run_coroutine(scenario)


def test_stopping_while_the_home_loop_is_stuck_still_ends_the_child(sqlite_url: str) -> None:
    db = Database(sqlite_url, writer="process")
    upgrade(db.write_engine)
    ready = Future[asyncio.AbstractEventLoop]()
    release = Future[None]()

    async def home() -> None:
        db.start(asyncio.get_running_loop())
        ready.set_result(asyncio.get_running_loop())
        await asyncio.wrap_future(release)

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    with ThreadPoolExecutor(max_workers=2) as pool:
        running = pool.submit(asyncio.run, home())
        try:
            loop = ready.result(timeout=10)
            assert db.write_sync(units.put, "before")[0] == db.writer_pid
            pid, process = db.writer_pid, writer_of(db)
            assert pid is not None
            loop.call_soon_threadsafe(time.sleep, 4.0)  # the home loop stops answering
            time.sleep(0.1)
            started = time.monotonic()
            stopping = pool.submit(process.stop, 0.5)  # gives up on the loop after 0.5 s
            while not gone(pid) and time.monotonic() - started < 3:
                time.sleep(0.05)
            assert gone(pid)  # told to stop and reaped while the loop was still stuck
            stopping.result(timeout=15)
        finally:
            release.set_result(None)
            running.result(timeout=30)
            db.stop()
    assert keys(db) == {"before"}


# A process with one thread and no connection to the database forks its writer (ADR 0011);
# pytest's own process has other threads by then, so this runs in one of its own.
_FORKING = """
import asyncio, json, os, signal, sqlite3, sys, time
sys.path.insert(0, {repo!r})
from chatdesk.db.migrate import upgrade
from chatdesk.db import writer_pipe
from chatdesk.db.runner import Database
from chatdesk.errors import Conflict, WriterUnavailable
from tests.realtime import units

def command(pid):
    # A new program's arguments show a moment after its parent has gone on.
    for _ in range(500):
        with open(f"/proc/{{pid}}/cmdline", "rb") as f:
            found = f.read().decode()
        if found:
            return found
        time.sleep(0.01)
    return found

async def main():
    report = {{}}
    # As python -m chatdesk.serving does: the first child forked ahead of its start.
    ahead = writer_pipe.fork_ahead({url!r}, 64, None)
    ahead_pid = writer_pipe._AHEAD[{url!r}][0].pid if ahead else None
    db = Database({url!r}, writer="process")
    upgrade(db.write_engine)
    db.start(asyncio.get_running_loop())
    pid = db.writer_pid
    report["taken_ahead"] = ahead and pid == ahead_pid
    report["forked"] = command(pid) == command(os.getpid())
    report["ran_there"] = (await db.write(units.put, "a"))[0] == pid
    try:
        await db.write(units.put, "b", fail=True)
    except Conflict as exc:
        report["failed"] = exc.message
    slow = asyncio.ensure_future(db.write(units.sleep_then_put, "slow", 5.0))
    await asyncio.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    try:
        await slow
    except WriterUnavailable:
        report["killed"] = "503"
    while db.writer_pid in (None, pid):
        await asyncio.sleep(0.02)
    report["replaced"] = (await db.write(units.put, "c"))[0] == db.writer_pid != pid
    report["keys"] = await db.write(units.stored_keys)
    await db.aclose()
    # With a connection open on the file, the next writer is a fresh interpreter.
    held = sqlite3.connect({path!r})
    other = Database({url!r}, writer="process")
    other.start(asyncio.get_running_loop())
    report["fresh"] = "chatdesk.db.writer_child" in command(other.writer_pid)
    report["fresh_ran"] = (await other.write(units.put, "d"))[0] == other.writer_pid
    await other.aclose()
    held.close()
    print(json.dumps(report))

asyncio.run(main())
"""


def test_a_single_threaded_server_forks_its_writer(sqlite_url: str, tmp_path: Path) -> None:
    """What ``python -m chatdesk.serving`` does: the first child is forked ahead of
    its start; a forked child keeps the contract, and a dead one is replaced by
    another fork while the process is still single-threaded."""
    path = sqlite_url.removeprefix("sqlite:///")
    script = _FORKING.format(repo=str(Path(__file__).parents[2]), url=sqlite_url, path=path)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {
        "taken_ahead": True,
        "forked": True,
        "ran_there": True,
        "failed": "refused b",
        "killed": "503",
        "replaced": True,
        "keys": ["a", "c"],
        "fresh": True,
        "fresh_ran": True,
    }, done.stderr
