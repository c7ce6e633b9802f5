"""The writer's contract (Database is the public interface of the data path).

Group commit with a SAVEPOINT per unit: a failing unit rolls back alone, the
others in its batch commit, every caller's future resolves, and the commit hook
reports only event ids that were committed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chatdesk.db.migrate import upgrade
from chatdesk.db.runner import Database, Unit
from chatdesk.db.tables import events, meta
from tests.event_loops import run_coroutine
from tests.realtime.units import insert_key


class Boom(Exception):
    pass


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    if database.is_sqlite:
        upgrade(database.write_engine)
    database.start()
    yield database
    database.stop()


def put(key: str, *, fail: bool = False, event: bool = False) -> Any:
    def unit_fn(unit: Unit) -> Any:
        event_id = insert_key(unit, key, event=event)
        if fail:
            raise Boom(key)
        return unit.conn.get_transaction(), event_id

    return unit_fn


def keys(db: Database) -> set[str]:
    return set(db.read_sync(lambda conn: conn.execute(select(meta.c.key)).scalars().all()))


def test_a_failing_unit_rolls_back_alone(db: Database) -> None:
    committed: list[int] = []
    db.on_commit = committed.append
    gate = threading.Event()

    def blocker(unit: Unit) -> None:
        gate.wait(10)  # holds the writer so the next units queue up into one batch

    first = db.submit(blocker)
    good_a = db.submit(put("a", event=True))
    bad = db.submit(put("b", fail=True, event=True))
    good_c = db.submit(put("c", event=True))
    gate.set()
    first.result(timeout=10)
    tx_a, event_a = good_a.result(timeout=10)
    tx_c, event_c = good_c.result(timeout=10)
    with pytest.raises(Boom, match="b"):
        bad.result(timeout=10)
    assert tx_a is tx_c, "the units were meant to share one batch (one transaction)"
    assert keys(db) == {"a", "c"}
    stored = db.read_sync(lambda conn: conn.execute(select(events.c.id)).scalars().all())
    assert sorted(stored) == [event_a, event_c]
    # Only committed events are announced.
    assert committed and max(committed) == event_c


def test_units_in_a_batch_see_earlier_units_writes(db: Database) -> None:
    gate = threading.Event()
    first = db.submit(lambda unit: gate.wait(10))
    db.submit(put("x"))
    seen = db.submit(
        lambda unit: unit.conn.execute(select(meta.c.key).where(meta.c.key == "x")).scalar()
    )
    gate.set()
    first.result(timeout=10)
    assert seen.result(timeout=10) == "x"


def test_two_hundred_concurrent_submits_all_resolve(db: Database) -> None:
    def submit(n: int) -> Future[Any]:
        return db.submit(put(f"k{n}", fail=n % 17 == 0, event=True))

    with ThreadPoolExecutor(16) as pool:
        futures = list(pool.map(submit, range(200)))
    ok, failed = [], 0
    for n, future in enumerate(futures):
        if n % 17 == 0:
            with pytest.raises(Boom):
                future.result(timeout=30)
            failed += 1
        else:
            ok.append(future.result(timeout=30)[1])
    assert failed == 12 and len(ok) == 188 and len(set(ok)) == 188
    assert keys(db) == {f"k{n}" for n in range(200) if n % 17}
    stored = db.read_sync(lambda conn: conn.execute(select(events.c.id)).scalars().all())
    assert sorted(stored) == sorted(ok)


def test_async_write_resolves_from_the_event_loop(db: Database) -> None:
    import asyncio

    async def scenario() -> list[Any]:
        return await asyncio.gather(*(db.write(put(f"w{n}")) for n in range(50)))

    assert len(run_coroutine(scenario)) == 50
    assert {f"w{n}" for n in range(50)} <= keys(db)


def test_async_callers_of_one_batch_get_their_own_outcome(db: Database) -> None:
    """Waiters on the loop are resolved together per batch: a failing unit fails
    only its caller, a caller cancelled before its unit started skips the unit."""
    import asyncio

    gate = threading.Event()

    async def scenario() -> tuple[list[Any], bool]:
        blocker = asyncio.ensure_future(db.write(lambda unit: gate.wait(10)))
        await asyncio.sleep(0.05)  # the writer is now inside the blocking unit
        writes = [
            asyncio.ensure_future(db.write(put(f"b{n}", fail=n == 3, event=True))) for n in range(6)
        ]
        cancelled = asyncio.ensure_future(db.write(put("gone")))
        await asyncio.sleep(0)
        cancelled.cancel()
        gate.set()
        await blocker
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        try:
            await cancelled
        except asyncio.CancelledError:
            return outcomes, True
        return outcomes, False

    outcomes, was_cancelled = run_coroutine(scenario)
    assert was_cancelled
    assert isinstance(outcomes[3], Boom)
    assert all(isinstance(o, tuple) for n, o in enumerate(outcomes) if n != 3)
    assert keys(db) == {f"b{n}" for n in range(6) if n != 3}


def test_a_database_error_in_a_unit_rolls_back_alone(db: Database) -> None:
    """A constraint failure inside a unit (which on PostgreSQL aborts the whole
    transaction until rolled back to the unit's SAVEPOINT) costs only that unit."""
    gate = threading.Event()
    first = db.submit(lambda unit: gate.wait(10))
    before = db.submit(put("dup-a"))
    clash = db.submit(lambda unit: (put("dup-b")(unit), put("dup-a")(unit)))
    after = db.submit(put("dup-c", event=True))
    gate.set()
    first.result(timeout=10)
    before.result(timeout=10)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        clash.result(timeout=10)
    after.result(timeout=10)
    assert {"dup-a", "dup-c"} <= keys(db) and "dup-b" not in keys(db)


def test_a_unit_that_fails_before_writing_does_not_rerun_its_batch(db: Database) -> None:
    """SQLite runs a batch without SAVEPOINTs first: a unit that fails having written
    nothing fails alone; one that fails after writing makes the whole batch run again,
    each unit in its own SAVEPOINT, so the others still commit exactly once."""
    runs: dict[str, int] = {}

    def counted(key: str, *, write: bool, fail: bool) -> Any:
        def unit_fn(unit: Unit) -> Any:
            runs[key] = runs.get(key, 0) + 1
            if write:
                unit.conn.execute(meta.insert().values(key=key, value="v"))
            if fail:
                raise Boom(key)
            return key

        return unit_fn

    def batch(*units: Any) -> list[Future[Any]]:
        gate = threading.Event()
        first = db.submit(lambda unit: gate.wait(10))
        futures = [db.submit(fn) for fn in units]
        gate.set()
        first.result(timeout=10)
        for future in futures:
            future.exception(timeout=10)
        return futures

    clean = batch(counted("c1", write=True, fail=False), counted("c2", write=False, fail=True))
    assert clean[0].result() == "c1" and isinstance(clean[1].exception(), Boom)
    assert runs == {"c1": 1, "c2": 1}

    dirty = batch(counted("d1", write=True, fail=False), counted("d2", write=True, fail=True))
    assert dirty[0].result() == "d1" and isinstance(dirty[1].exception(), Boom)
    replayed = 2 if db.is_sqlite else 1
    assert runs["d1"] == replayed and runs["d2"] == replayed
    assert {"c1", "d1"} <= keys(db) and not {"c2", "d2"} & keys(db)


def test_a_batch_that_cannot_commit_fails_every_caller(tmp_path: Path) -> None:
    broken = Database(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    broken.start()
    try:
        futures = [broken.submit(put(f"z{n}")) for n in range(5)]
        for future in futures:
            # Fails, and promptly: no caller may hang on a batch that never ran.
            with pytest.raises(Exception, match="unable to open database"):
                future.result(timeout=10)
    finally:
        broken.stop()


def test_a_cancelled_unit_is_skipped(db: Database) -> None:
    gate = threading.Event()
    first = db.submit(lambda unit: gate.wait(10))
    skipped = db.submit(put("never"))
    kept = db.submit(put("kept"))
    assert skipped.cancel()
    gate.set()
    first.result(timeout=10)
    kept.result(timeout=10)
    assert "never" not in keys(db) and "kept" in keys(db)
