"""What the report columns cost each message: the conversation's UPDATE, before and after.

    .venv/bin/python bench/report_columns_cost.py [--rounds 5] [--updates 20000]

Every message updates its conversation once. Migration 0017 (ADR 0026) adds
``message_count + 1`` to that statement (and the covering index that holds it), and,
on an operator's public reply, the first-response stamp. This runs the statements
the message path runs (compiled by SQLAlchemy from ``actions/messages.py``) on a
SQLite file migrated to 0015 ("before": the statements as they were) and one migrated
to head ("after"), alternating rounds in the same process, and prints the CPU time per
UPDATE (``time.process_time``), the median of the rounds. Prints, not asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, bindparam, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from chatdesk.actions import messages as path
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.tables import conversations

CONVERSATIONS = 2000
_LAST = ("updated_at", "last_message_at", "last_message_preview", "last_message_author")
_TOUCH = update(conversations).where(conversations.c.id == bindparam("b_conversation_id"))
# The statements as they were before 0017 (actions/messages.py at that revision).
BEFORE = {
    "visitor": (
        _TOUCH.values(unread_count=conversations.c.unread_count + 1),
        _LAST,
    ),
    "operator": (_TOUCH, (*_LAST, "unread_count")),
}
AFTER = {
    "visitor": (path._TOUCH_BY_VISITOR.statement, _LAST),
    "operator": (path._TOUCH_OPERATOR_REPLY.statement, (*_LAST, "unread_count")),
}


def _database(folder: Path, revision: str) -> Engine:
    engine = make_engine(f"sqlite:///{folder / revision}.db", writer=True)
    upgrade(engine, revision)
    with engine.begin() as conn:
        now = datetime(2026, 12, 1, tzinfo=UTC)
        conn.execute(
            text(
                "INSERT INTO sites (id, name, site_key, allowed_origins, greeting, accent_color,"
                " position, prechat_name, prechat_email, offline_message, enabled,"
                " identity_required, created_at, updated_at) VALUES ('s', 'S', 'pk', '[]', 'Hi',"
                " '#000000', 'right', 'off', 'off', '', 1, 0, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO visitors (id, site_id, created_at, last_seen_at)"
                " VALUES ('v', 's', :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO conversations (id, site_id, visitor_id, status, created_at,"
                " updated_at, last_message_at, last_message_preview, last_message_author,"
                " unread_count) VALUES (:id, 's', 'v', 'open', :t, :t, :t, '', 'visitor', 0)"
            ),
            [{"id": f"c{n:06d}", "t": now - timedelta(minutes=n)} for n in range(CONVERSATIONS)],
        )
    return engine


def _round(engine: Engine, statement: object, columns: tuple[str, ...], updates: int) -> float:
    """CPU µs per UPDATE over ``updates`` of them, in one transaction (as the writer's)."""
    compiled = statement.compile(dialect=engine.dialect, column_keys=list(columns))  # type: ignore[attr-defined]
    names = compiled.positiontup
    now = datetime.now(UTC)
    values = {
        "updated_at": now,
        "last_message_at": now,
        "last_message_preview": "Hello there",
        "last_message_author": "visitor",
        "unread_count": 0,
        "b_now": now,
    }
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        processors = {
            name: compiled.binds[name]
            .type.dialect_impl(engine.dialect)
            .bind_processor(engine.dialect)
            for name in names
        }
        rows = []
        for n in range(updates):
            values["b_conversation_id"] = f"c{n % CONVERSATIONS:06d}"
            row = []
            for name in names:
                value = values.get(name, compiled.binds[name].effective_value)
                processor = processors[name]
                row.append(processor(value) if processor else value)
            rows.append(tuple(row))
        began = time.process_time()
        for row in rows:
            cursor.execute(compiled.string, row)
        spent = time.process_time() - began
    return spent / updates * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before, after = _database(Path(folder), "0015"), _database(Path(folder), "head")
        found: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for kind in ("visitor", "operator"):
                for label, engine, statements in (
                    ("before", before, BEFORE),
                    ("after", after, AFTER),
                ):
                    statement, columns = statements[kind]
                    found.setdefault((kind, label), []).append(
                        _round(engine, statement, columns, args.updates)
                    )
        print("CPU µs per conversation UPDATE (median of rounds; each round's in brackets)")
        for kind in ("visitor", "operator"):
            for label in ("before", "after"):
                times = found[(kind, label)]
                each = ", ".join(f"{t:.1f}" for t in times)
                print(f"{kind:9} {label:7} {statistics.median(times):6.1f}   [{each}]")
        before.dispose()
        after.dispose()


if __name__ == "__main__":
    main()
