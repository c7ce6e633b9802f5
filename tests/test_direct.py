"""Direct statements write exactly the rows Connection.execute writes (same binds)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, bindparam, insert, select, update

from chatdesk.db.direct import Direct, cursor_of
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.tables import events, meta

EVENT_COLUMNS = tuple(column.name for column in events.c if column.name != "id")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=1, writer=True)
    if database_url.startswith("sqlite"):
        upgrade(engine)
    yield engine
    engine.dispose()


def _event(kind: str, when: datetime, private: bool) -> dict[str, object]:
    return {
        "type": kind,
        "site_id": "s1",
        "conversation_id": None,
        "visitor_id": "v1",
        "private": private,
        "created_at": when,
        "data": {"text": "ünïcode ✓", "n": [1, 2], "nested": {"ok": True}},
    }


def test_a_direct_insert_reads_back_like_a_core_insert(engine: Engine) -> None:
    direct = Direct(insert(events).returning(events.c.id), EVENT_COLUMNS)
    first = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    later = first + timedelta(minutes=1)  # a new value after the remembered one
    with engine.connect() as conn, conn.begin():
        cursor = cursor_of(conn)
        via_direct = [
            direct.run(cursor, conn.dialect, _event("direct", when, private)).fetchone()[0]
            for when, private in ((first, True), (first, False), (later, True))
        ]
        via_core = [
            conn.execute(
                insert(events).values(**_event("core", when, private))
            ).inserted_primary_key[0]
            for when, private in ((first, True), (first, False), (later, True))
        ]
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(events)).all()}
    for direct_id, core_id in zip(via_direct, via_core, strict=True):
        a, b = rows[direct_id], rows[core_id]
        assert (a.created_at, a.private, a.data, a.site_id, a.visitor_id) == (
            b.created_at,
            b.private,
            b.data,
            b.site_id,
            b.visitor_id,
        )
    assert rows[via_direct[0]].created_at != rows[via_direct[2]].created_at
    assert rows[via_direct[0]].private is True and rows[via_direct[1]].private is False


def test_literals_inside_a_statement_are_bound_too(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        conn.execute(insert(meta).values(key="k", value="1"))
        bump = Direct(
            update(meta)
            .where(meta.c.key == bindparam("b_key"))
            .values(value=meta.c.value + "+" + "x"),
        )
        bump.run(cursor_of(conn), conn.dialect, {"b_key": "k"})
        read = Direct(select(meta.c.value).where(meta.c.key == bindparam("b_key")))
        row = read.run(cursor_of(conn), conn.dialect, {"b_key": "k"}).fetchone()
    assert row[0] == "1+x"
