"""One visibility rule for both delivery paths: on random event logs, what the hub
hands each listener from memory equals what ``read_events`` reads from the database.

A real SQLite file, migrated; the hub is the real one, handed the rows the app's
reader reads (``events_after``), without a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert

from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.tables import events
from chatdesk.queries.events import events_after, read_events
from chatdesk.realtime.bus import MemoryBus
from chatdesk.realtime.hub import Entry, Hub
from chatdesk.realtime.routing import reader_keys
from chatdesk.security.principals import OperatorActor, VisitorActor
from chatdesk.security.visibility import visibility

SITES = ["site_a", "site_b", "site_c"]
VISITORS = ["vis_1", "vis_2", "vis_3", "vis_4"]
START = datetime(2026, 12, 1, tzinfo=UTC)

Actor = OperatorActor | VisitorActor


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("visibility") / "events.db"
    made = make_engine(f"sqlite:///{path}", writer=True)
    upgrade(made)
    yield made
    made.dispose()


def _conversation(visitor_id: str | None) -> dict[str, Any]:
    # The fields for_visitor takes out (labels emptied, visitor and unread count dropped).
    return {
        "id": f"conv_{visitor_id}",
        "status": "open",
        "labels": ["vip"],
        "unread_count": 3,
        "visitor": {"id": visitor_id, "name": "Vera"},
    }


event_rows = st.lists(
    st.tuples(
        st.sampled_from(SITES),
        st.none() | st.sampled_from(VISITORS),
        st.booleans(),
        st.sampled_from(["message.created", "conversation.updated", "visitor.updated"]),
        st.booleans(),  # carries a conversation
    ),
    max_size=60,
)


def _actor(kind: str, choice: int, sites: frozenset[str]) -> Actor:
    if kind == "visitor":
        visitor_id = VISITORS[choice % len(VISITORS)]
        return VisitorActor(visitor_id=visitor_id, site_id=SITES[0], token_hash="x")
    return OperatorActor(
        operator_id=f"op_{choice}",
        name="Op",
        email="op@example.com",
        role="agent" if kind == "agent" else kind,
        site_ids=sites if kind == "agent" else None,
    )


actors = st.lists(
    st.builds(
        _actor,
        st.sampled_from(["owner", "admin", "agent", "visitor"]),
        st.integers(0, 10),
        st.frozensets(st.sampled_from(SITES)),
    ),
    min_size=1,
    max_size=8,
)


def _read_all(engine: Engine, actor: Actor, after: int, page: int) -> list[Any]:
    found: list[Any] = []
    with engine.connect() as conn:
        while True:
            got, cursor = read_events(conn, actor, after, page)
            found.extend(got)
            if cursor == after:
                return found
            after = cursor


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=event_rows, readers=actors, page=st.integers(1, 7), backlog=st.integers(1, 80))
def test_memory_and_database_agree(
    engine: Engine, rows: list[Any], readers: list[Actor], page: int, backlog: int
) -> None:
    with engine.begin() as conn:
        conn.execute(delete(events))
        base = (
            conn.execute(insert(events).returning(events.c.id), [_row(0, *rows[0])]).scalar()
            if rows
            else 0
        )
        for n, row in enumerate(rows[1:], start=1):
            conn.execute(insert(events), [_row(n, *row)])
    after = (base or 1) - 1  # just before the first event of this example

    hub = Hub(MemoryBus(), _NoLog(), poll_seconds=60, backlog=backlog)
    hub._seen = after  # the hub has handed over everything up to here (nothing yet)
    listeners = [hub.listen(reader_keys(a), a.account, visibility(a)) for a in readers]
    with engine.connect() as conn:
        for new in events_after(conn, after):
            hub._hand(Entry(*new))

    for actor, listener in zip(readers, listeners, strict=True):
        expected = _read_all(engine, actor, after, page)
        handed, _cursor = hub.take(listener, after)
        if listener.behind(after):
            # Its backlog overflowed: it reads the log from its cursor instead, and what
            # it was handed after the overflow is exactly the tail of that read.
            assert len(expected) > backlog
            tail = [e for e in expected if e["id"] > listener.base]
            assert [e.view(listener.to_visitor) for e in handed] == tail
            continue
        assert [e.view(listener.to_visitor) for e in handed] == expected
        ids = [e.id for e in handed]
        assert ids == sorted(set(ids))
        if isinstance(actor, VisitorActor):
            assert all(not e.private for e in handed)


class _NoLog:
    async def head(self) -> int:
        raise AssertionError("not read in this test")

    async def events_after(self, after: int) -> list[Any]:
        raise AssertionError("not read in this test")


def _row(
    n: int, site_id: str, visitor_id: str | None, private: bool, kind: str, with_conv: bool
) -> dict[str, Any]:
    data: dict[str, Any] = {"private": private}
    if with_conv:
        data["conversation"] = _conversation(visitor_id)
    return {
        "type": kind,
        "site_id": site_id,
        "conversation_id": f"conv_{visitor_id}" if visitor_id else None,
        "visitor_id": visitor_id,
        "private": private,
        "created_at": START + timedelta(seconds=n),
        "data": data,
    }
