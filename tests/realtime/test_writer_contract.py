"""The writer contract (chatdesk.db.writer), checked against every writer.

Each test runs on the writer thread and on the writer process on SQLite, and
on the writer thread on PostgreSQL when CHATDESK_TEST_DATABASE_URL is set
(PostgreSQL has no writer process). Database is the public interface: units
are importable functions with picklable arguments on every writer; a failing
unit rolls back alone; a cancelled caller's unit is skipped if the writer has
not taken it; ``unit.now`` is the caller's clock when it queued the unit;
on_commit hears the newest committed event id before the callers hear their
answers; stop() answers every unit queued before it, and later units get 503.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from chatdesk.db.migrate import upgrade
from chatdesk.db.runner import Database, Unit
from chatdesk.db.tables import events, meta
from chatdesk.errors import Conflict, WriterUnavailable
from tests.event_loops import run_coroutine
from tests.factories import FakeClock
from tests.realtime import units
from tests.realtime.conftest import wait_until
from tests.realtime.units import Boom

START = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(params=["thread", "process"])
def kind(request: pytest.FixtureRequest, database_url: str) -> str:
    if request.param == "process" and not database_url.startswith("sqlite"):
        pytest.skip("the writer process is SQLite's; PostgreSQL always uses the writer thread")
    result: str = request.param
    return result


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def make_db(database_url: str, kind: str, clock: FakeClock) -> Iterator[Callable[..., Database]]:
    """Databases on this test's writer; each migrated (SQLite) and started; all stopped after."""
    made: list[Database] = []

    def make(url: str = database_url, *, migrate: bool = True) -> Database:
        database = Database(url, writer=kind, clock=clock)  # type: ignore[arg-type]
        if database.is_sqlite and migrate:
            upgrade(database.write_engine)
        database.start()
        made.append(database)
        return database

    yield make
    for database in made:
        database.stop()


@pytest.fixture
def db(make_db: Callable[..., Database], kind: str) -> Database:
    database = make_db()
    assert database.writer == kind
    return database


def keys(db: Database) -> set[str]:
    return set(db.read_sync(lambda conn: conn.execute(select(meta.c.key)).scalars().all()))


def stored_events(db: Database) -> list[int]:
    return sorted(db.read_sync(lambda conn: conn.execute(select(events.c.id)).scalars().all()))


@contextmanager
def held(db: Database, tmp_path: Path) -> Iterator[Future[Any]]:
    """The writer busy inside one unit for the block (units queued meanwhile wait and
    share the next batch); yields that unit's future."""
    started, gate = tmp_path / "held-started", tmp_path / "held-gate"
    started.unlink(missing_ok=True)
    gate.unlink(missing_ok=True)
    blocker = db.submit(units.hold, str(started), str(gate))
    wait_until(started.exists, timeout=20, what="the writer to hold")
    try:
        yield blocker
    finally:
        gate.touch()
    blocker.result(timeout=20)


# -- results and errors -----------------------------------------------------------------


def test_a_unit_returns_its_result_and_its_writes_are_durable(db: Database) -> None:
    pid, now, event_id, _batch = db.write_sync(units.put, "a", event=True)
    assert pid == (db.writer_pid or pid) and now == START
    assert keys(db) == {"a"} and stored_events(db) == [event_id]


def test_arguments_and_results_travel_as_copies(db: Database) -> None:
    """Pickled both ways on every writer: a unit never shares an object with its caller."""
    given = ["from the caller"]
    returned = db.write_sync(units.put_returning_argument, "copied", given)
    assert given == ["from the caller"]
    assert returned == ["from the caller", "changed by the unit"] and returned is not given


def test_a_failing_unit_rolls_back_alone(db: Database, tmp_path: Path) -> None:
    committed: list[int] = []
    db.on_commit = committed.append
    with held(db, tmp_path):
        good_a = db.submit(units.put, "a", event=True)
        bad = db.submit(units.put, "b", fail=True, event=True)
        good_c = db.submit(units.put, "c", event=True)
    _pid, _now, event_a, batch_a = good_a.result(timeout=10)
    _pid, _now, event_c, batch_c = good_c.result(timeout=10)
    with pytest.raises(Conflict, match="b"):
        bad.result(timeout=10)
    assert batch_a == batch_c, "the units were meant to share one batch (one transaction)"
    assert keys(db) == {"a", "c"}
    assert stored_events(db) == [event_a, event_c]
    # Only committed events are announced.
    assert committed and max(committed) == event_c


def test_a_bug_after_writing_rolls_back_alone_and_keeps_its_traceback(
    db: Database, tmp_path: Path
) -> None:
    with held(db, tmp_path):
        before = db.submit(units.put, "before")
        bug = db.submit(units.crash, "crashed")
        after = db.submit(units.put, "after")
    assert before.result(timeout=10)[3] == after.result(timeout=10)[3], "one batch"
    with pytest.raises(ZeroDivisionError) as caught:
        bug.result(timeout=10)
    # The caller logs the error; the traceback from the writer comes with it.
    assert any("units.py" in note and "crash" in note for note in caught.value.__notes__)
    assert keys(db) == {"before", "after"}


def test_a_database_error_in_a_unit_rolls_back_alone(db: Database, tmp_path: Path) -> None:
    """A constraint failure inside a unit (which on PostgreSQL aborts the whole
    transaction until rolled back to the unit's SAVEPOINT) costs only that unit."""
    with held(db, tmp_path):
        before = db.submit(units.put, "dup-a")
        clash = db.submit(units.put_keys, "dup-b", "dup-a")
        after = db.submit(units.put, "dup-c", event=True)
    before.result(timeout=10)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        clash.result(timeout=10)
    after.result(timeout=10)
    assert {"dup-a", "dup-c"} <= keys(db) and "dup-b" not in keys(db)


def test_a_unit_that_fails_before_writing_does_not_rerun_its_batch(
    db: Database, tmp_path: Path
) -> None:
    """SQLite runs a batch without SAVEPOINTs first: a unit that fails having written
    nothing fails alone; one that fails after writing makes the whole batch run again,
    each unit in its own SAVEPOINT, so the others still commit exactly once."""
    log = tmp_path / "runs.log"

    def runs() -> dict[str, int]:
        counts: dict[str, int] = {}
        for key in log.read_text().split():
            counts[key] = counts.get(key, 0) + 1
        return counts

    def batch(*specs: tuple[str, bool, bool]) -> list[Future[Any]]:
        with held(db, tmp_path):
            futures = [
                db.submit(units.counted, key, str(log), write=write, fail=fail)
                for key, write, fail in specs
            ]
        for future in futures:
            future.exception(timeout=10)
        return futures

    clean = batch(("c1", True, False), ("c2", False, True))
    assert clean[0].result() == "c1" and isinstance(clean[1].exception(), Boom)
    assert runs() == {"c1": 1, "c2": 1}

    dirty = batch(("d1", True, False), ("d2", True, True))
    assert dirty[0].result() == "d1" and isinstance(dirty[1].exception(), Boom)
    replayed = 2 if db.is_sqlite else 1
    assert runs()["d1"] == replayed and runs()["d2"] == replayed
    assert {"c1", "d1"} <= keys(db) and not {"c2", "d2"} & keys(db)


def test_a_result_that_cannot_come_back_fails_its_unit_before_commit(db: Database) -> None:
    with pytest.raises(TypeError, match="cannot pickle"):
        db.write_sync(units.unanswerable, "lost")
    db.write_sync(units.put, "fine")
    assert keys(db) == {"fine"}  # the failed unit's row was rolled back, not committed


def test_a_batch_that_cannot_commit_fails_every_caller(
    make_db: Callable[..., Database], tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a SQLite file that cannot be opened")
    broken = make_db(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}", migrate=False)
    # Enough units to share batches: a batch's one error reaches each caller once.
    futures = [broken.submit(units.put, f"z{n}") for n in range(60)]
    for future in futures:
        # Fails, and promptly: no caller may hang on a batch that never ran.
        with pytest.raises(Exception, match="unable to open database") as caught:
            future.result(timeout=20)
        assert len(caught.value.__notes__) == 1


# -- units must be importable -------------------------------------------------------------


def test_a_unit_must_be_importable_with_picklable_arguments(db: Database) -> None:
    def closure(unit: Unit) -> None:
        return None

    with pytest.raises(TypeError, match="importable function"):
        db.write_sync(lambda unit: None)
    with pytest.raises(TypeError, match="importable function"):
        db.submit(closure)
    with pytest.raises(TypeError, match="importable function"):
        db.write_sync(units.put, object.__new__(type("Local", (), {})))

    async def from_a_loop() -> None:
        with pytest.raises(TypeError, match="importable function"):
            await db.write(units.put_value, "k", threading.Lock())

    run_coroutine(from_a_loop)
    assert db.write_sync(units.stored_keys) == []  # nothing ran, and the writer is fine


# -- many callers ---------------------------------------------------------------------------


def test_units_in_a_batch_see_earlier_units_writes(db: Database, tmp_path: Path) -> None:
    with held(db, tmp_path):
        db.submit(units.put, "x")
        seen = db.submit(units.read_key, "x")
    assert seen.result(timeout=10) == "x"


def test_two_hundred_concurrent_submits_all_resolve(db: Database) -> None:
    def submit(n: int) -> Future[Any]:
        return db.submit(units.put, f"k{n}", fail=n % 17 == 0, event=True)

    with ThreadPoolExecutor(16) as pool:
        futures = list(pool.map(submit, range(200)))
    ok, failed = [], 0
    for n, future in enumerate(futures):
        if n % 17 == 0:
            with pytest.raises(Conflict):
                future.result(timeout=30)
            failed += 1
        else:
            ok.append(future.result(timeout=30)[2])
    assert failed == 12 and len(ok) == 188 and len(set(ok)) == 188
    assert keys(db) == {f"k{n}" for n in range(200) if n % 17}
    assert stored_events(db) == sorted(ok)


def test_async_writes_resolve_on_their_event_loop(db: Database) -> None:
    committed: list[int] = []
    db.on_commit = committed.append

    async def scenario() -> list[Any]:
        writes = [db.write(units.put, f"k{n}", fail=n % 5 == 2, event=True) for n in range(50)]
        return await asyncio.gather(*writes, return_exceptions=True)

    outcomes = run_coroutine(scenario)
    failed = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, Conflict)]
    assert failed == [n for n in range(50) if n % 5 == 2]
    assert str(outcomes[7]) == "refused k7"
    assert keys(db) == {f"k{n}" for n in range(50) if n % 5 != 2}
    announced = [o[2] for o in outcomes if isinstance(o, tuple)]
    assert stored_events(db) == sorted(announced)
    assert max(committed) == max(announced)


# -- now -------------------------------------------------------------------------------------


def test_now_is_the_callers_clock_when_the_unit_was_queued(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    with held(db, tmp_path):
        queued_first = db.submit(units.now_of)
        clock.now = START + timedelta(seconds=5)
        queued_later = db.submit(units.now_of)
        clock.now = START + timedelta(seconds=60)  # when the units start
    first, later = queued_first.result(timeout=10), queued_later.result(timeout=10)
    assert first == START and later == START + timedelta(seconds=5)
    assert first.tzinfo is not None


# -- cancellation ----------------------------------------------------------------------------


def let_the_withdrawal_reach_the_writer() -> None:
    """A cancelled caller's withdrawal travels to the writer process through its home
    loop and socket (the writer thread reads the caller's state itself)."""
    time.sleep(0.2)


def test_a_cancelled_unit_is_skipped(db: Database, tmp_path: Path) -> None:
    with held(db, tmp_path):
        skipped = db.submit(units.put, "never")
        kept = db.submit(units.put, "kept")
        assert skipped.cancel()
        let_the_withdrawal_reach_the_writer()
    kept.result(timeout=10)
    assert "never" not in keys(db) and "kept" in keys(db)


def test_async_callers_of_one_batch_get_their_own_outcome(db: Database, tmp_path: Path) -> None:
    """Waiters on a loop are resolved together per batch: a failing unit fails only
    its caller; a caller cancelled before the writer took its unit skips the unit."""
    with held(db, tmp_path):

        async def scenario() -> tuple[list[Any], bool]:
            writes = [
                asyncio.ensure_future(db.write(units.put, f"b{n}", fail=n == 3, event=True))
                for n in range(6)
            ]
            cancelled = asyncio.ensure_future(db.write(units.put, "gone"))
            await asyncio.sleep(0)
            cancelled.cancel()
            await asyncio.sleep(0)
            await asyncio.to_thread(let_the_withdrawal_reach_the_writer)
            gate = tmp_path / "held-gate"
            gate.touch()  # the writer goes on
            outcomes = await asyncio.gather(*writes, return_exceptions=True)
            try:
                await cancelled
            except asyncio.CancelledError:
                return outcomes, True
            return outcomes, False

        outcomes, was_cancelled = run_coroutine(scenario)
    assert was_cancelled
    assert isinstance(outcomes[3], Conflict)
    assert all(isinstance(o, tuple) for n, o in enumerate(outcomes) if n != 3)
    assert keys(db) == {f"b{n}" for n in range(6) if n != 3}


# -- the commit hook ---------------------------------------------------------------------------


def test_on_commit_hears_the_newest_event_id_once_committed_before_the_callers(
    db: Database, tmp_path: Path
) -> None:
    heard: list[tuple[int, int]] = []

    def on_commit(newest: int) -> None:  # what another connection sees at that moment
        visible = db.read_sync(lambda conn: conn.execute(select(func.max(events.c.id))).scalar())
        heard.append((newest, visible or 0))

    db.on_commit = on_commit
    with held(db, tmp_path):
        futures = [db.submit(units.put, f"e{n}", event=n != 4) for n in range(6)]
        failing = db.submit(units.put, "e-fail", fail=True, event=True)
    results = [future.result(timeout=10) for future in futures]
    assert len(heard) >= 1  # heard before the callers were answered
    newest = max(r[2] for r in results if r[2] is not None)
    with pytest.raises(Conflict):
        failing.result(timeout=10)
    assert heard[-1] == (newest, newest)  # the newest committed id, already durable
    assert stored_events(db)[-1] == newest
    db.write_sync(units.put, "no-event")  # a batch without events is not announced
    assert len(heard) == len({h for h, _ in heard})


# -- checkpoints -----------------------------------------------------------------------------


def test_the_wal_is_checkpointed_in_the_background(db: Database, database_url: str) -> None:
    """The write connection never checkpoints; a background thread does, so pages
    reach the database file while the writer keeps running."""
    if not db.is_sqlite:
        pytest.skip("SQLite's WAL")
    assert db.write_sync(units.autocheckpoint) == 0
    path = Path(database_url.removeprefix("sqlite:///"))
    before = path.stat().st_size
    # About 200 pages: under SQLite's default auto-checkpoint of 1,000 pages, so only
    # the background checkpoints can have moved them into the file.
    for n in range(20):
        db.write_sync(units.put_large, f"big{n}", 40_000)
    deadline = time.monotonic() + 5
    while path.stat().st_size <= before + 500_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size > before + 500_000
    assert db.writer_alive


# -- shutdown ----------------------------------------------------------------------------------


def test_stopping_answers_everything_queued_then_refuses_units(
    db: Database, tmp_path: Path, database_url: str
) -> None:
    committed: list[int] = []
    db.on_commit = committed.append
    with ThreadPoolExecutor(1) as pool, held(db, tmp_path):
        futures = [db.submit(units.put, f"s{n}", event=True) for n in range(200)]
        assert db.writer_alive
        stopping = pool.submit(db.stop)
        time.sleep(0.2)  # stop() waits for the held writer; the units are still queued
        assert not stopping.done()
    stopping.result(timeout=30)
    assert not db.writer_alive
    results = [f.result(timeout=0) for f in futures]
    assert max(committed) == max(r[2] for r in results)
    late = db.submit(units.put, "late")
    with pytest.raises(WriterUnavailable):
        late.result(timeout=0)
    with pytest.raises(WriterUnavailable):
        db.write_sync(units.put, "later")

    async def from_a_loop() -> None:
        with pytest.raises(WriterUnavailable):
            await db.write(units.put, "latest")

    run_coroutine(from_a_loop)
    if db.is_sqlite:
        # The last checkpoint moved everything into the database file and emptied the WAL.
        wal = Path(database_url.removeprefix("sqlite:///") + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
    reopened = Database(database_url)
    reopened.start()
    try:
        assert keys(reopened) == {f"s{n}" for n in range(200)}
    finally:
        reopened.stop()


def test_units_before_start_are_refused(database_url: str, kind: str) -> None:
    unstarted = Database(database_url, writer=kind)  # type: ignore[arg-type]
    with pytest.raises(WriterUnavailable):
        unstarted.write_sync(units.put, "early")
    unstarted.stop()


def test_the_loop_given_to_start_must_not_block_on_the_writer(database_url: str, kind: str) -> None:
    """On the server's loop, write_sync() and stop() would wait for answers that only
    that loop can deliver (or starve its callers): both are refused, on every writer."""

    async def scenario() -> list[Any]:
        db = Database(database_url, writer=kind)  # type: ignore[arg-type]
        if db.is_sqlite:
            upgrade(db.write_engine)
        db.start(asyncio.get_running_loop())
        try:
            with pytest.raises(RuntimeError, match="wait forever"):
                db.write_sync(units.put, "deadlock")
            with pytest.raises(RuntimeError, match="aclose"):
                db.stop()
            return [await db.write(units.put, "fine")]
        finally:
            await db.aclose()

    assert len(run_coroutine(scenario)) == 1
