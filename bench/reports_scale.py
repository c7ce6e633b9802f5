"""The reports at scale: a year of 100,000 conversations and 1,000,000 messages.

    .venv/bin/python bench/reports_scale.py                      # SQLite (a temporary file)
    .venv/bin/python bench/reports_scale.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/reports_scale.py --conversations 10000   # a smaller world

Fills a fresh, migrated database with quick bulk inserts (not through the actions: the
timings columns are written as the actions would have), then times each report's
queries (queries/reports.py) over the whole year, for an admin (every site) and for an
agent of 2 of the 10 sites, in the viewer's zone (Europe/Paris). Each figure is the best
and the median of 5 runs, in ms. Prints, not asserts; the target is 300 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.tables import conversations, messages, operators, sites, visitors
from chatdesk.ids import encode_id
from chatdesk.queries.report_periods import Period
from chatdesk.queries.reports import (
    Scope,
    agents_report,
    heatmap_report,
    ratings_report,
    sites_report,
    summary_report,
    timeseries_report,
)

YEAR_END = datetime(2026, 12, 1, tzinfo=UTC)
YEAR_START = YEAR_END - timedelta(days=365)
SITES = 10
OPERATORS = 20
BATCH = 20_000


def _id(moment: datetime, rng: random.Random) -> str:
    return encode_id((int(moment.timestamp() * 1000) << 80) | rng.getrandbits(80))


def _fill(engine: Engine, count: int, per: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    site_ids = [_id(YEAR_START, rng) for _ in range(SITES)]
    operator_ids = [_id(YEAR_START, rng) for _ in range(OPERATORS)]
    with engine.begin() as conn:
        conn.execute(insert(sites), [_site(site_id, n) for n, site_id in enumerate(site_ids)])
        conn.execute(insert(operators), [_operator(op, n) for n, op in enumerate(operator_ids)])
    span = (YEAR_END - YEAR_START).total_seconds()
    rows: list[dict[str, Any]] = []
    said: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    for n in range(count):
        started = YEAR_START + timedelta(seconds=rng.random() * span)
        site_id = site_ids[n % SITES]
        visitor_id = _id(started, rng)
        people.append(
            {"id": visitor_id, "site_id": site_id, "created_at": started, "last_seen_at": started}
        )
        conversation = _conversation(rng, _id(started, rng), site_id, visitor_id, started)
        conversation["assignee_id"] = rng.choice(operator_ids)
        rows.append(conversation)
        said.extend(_messages(rng, conversation, per, conversation["assignee_id"]))
        if len(said) >= BATCH:
            _flush(engine, people, rows, said)
    _flush(engine, people, rows, said)
    if engine.dialect.name == "postgresql":
        # As autovacuum would have by then: statistics, and the visibility map that lets
        # PostgreSQL answer from an index alone.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def _flush(engine: Engine, people: list[Any], rows: list[Any], said: list[Any]) -> None:
    with engine.begin() as conn:
        if people:
            conn.execute(insert(visitors), people)
        if rows:
            conn.execute(insert(conversations), rows)
        if said:
            conn.execute(insert(messages), said)
    people.clear()
    rows.clear()
    said.clear()


def _site(site_id: str, n: int) -> dict[str, Any]:
    return {
        "id": site_id,
        "name": f"Site {n}",
        "site_key": f"pk_bench_{n}",
        "allowed_origins": [],
        "greeting": "Hi",
        "accent_color": "#000000",
        "position": "right",
        "prechat_name": "off",
        "prechat_email": "off",
        "offline_message": "",
        "enabled": True,
        "identity_required": False,
        "created_at": YEAR_START,
        "updated_at": YEAR_START,
    }


def _operator(operator_id: str, n: int) -> dict[str, Any]:
    return {
        "id": operator_id,
        "email": f"op{n}@example.com",
        "name": f"Operator {n}",
        "role": "agent",
        "password_hash": "!invited",
        "active": True,
        "created_at": YEAR_START,
        "updated_at": YEAR_START,
    }


def _conversation(
    rng: random.Random, conversation_id: str, site_id: str, visitor_id: str, started: datetime
) -> dict[str, Any]:
    first = rng.randint(5, 1800)
    resolved = first + rng.randint(60, 86_400) if rng.random() < 0.8 else None
    rated = resolved is not None and rng.random() < 0.3
    at_resolve = started + timedelta(seconds=resolved) if resolved is not None else None
    return {
        "id": conversation_id,
        "site_id": site_id,
        "visitor_id": visitor_id,
        "status": "resolved" if resolved is not None else "open",
        "created_at": started,
        "updated_at": started,
        "last_message_at": started,
        "last_message_preview": "",
        "last_message_author": "visitor",
        "unread_count": 0,
        "first_response_at": started + timedelta(seconds=first),
        "first_response_seconds": first,
        "resolved_at": at_resolve,
        "resolution_seconds": resolved,
        "in_business_hours": rng.random() < 0.6,
        "message_count": 0,  # counted as its messages are made (_messages)
        "rating_score": rng.randint(1, 5) if rated else None,
        "rating_comment": "Thanks" if rated and rng.random() < 0.3 else None,
        "rated_at": at_resolve + timedelta(minutes=1) if rated and at_resolve else None,
    }


def _messages(
    rng: random.Random, conversation: dict[str, Any], per: int, operator_id: str
) -> Iterator[dict[str, Any]]:
    moment = conversation["created_at"]
    conversation["message_count"] = sum(1 for n in range(per) if n % 9 != 8)
    for n in range(per):
        moment = moment + timedelta(seconds=rng.randint(1, 300))
        by_visitor = n % 2 == 0
        yield {
            "id": _id(moment, rng),
            "conversation_id": conversation["id"],
            "author_type": "visitor" if by_visitor else "operator",
            "author_id": conversation["visitor_id"] if by_visitor else operator_id,
            "author_name": None,
            "body": "Hello there, a message of ordinary length for a chat.",
            "private": n % 9 == 8,
            "client_msg_id": None,
            "created_at": moment,
        }


def _time(conn: Connection, run: Callable[[Connection], Any]) -> tuple[float, float]:
    taken = []
    for _ in range(5):
        began = time.perf_counter()
        run(conn)
        taken.append((time.perf_counter() - began) * 1000)
    return min(taken), statistics.median(taken)


def _reports(site_ids: list[str] | None) -> dict[str, Callable[[Connection], Any]]:
    period = Period(YEAR_START, YEAR_END, ZoneInfo("Europe/Paris"))
    scope = Scope(period, site_ids)
    found: dict[str, Callable[[Connection], Any]] = {
        "summary": lambda c: summary_report(c, scope),
        "sites": lambda c: sites_report(c, scope),
        "agents": lambda c: agents_report(c, scope),
        "heatmap": lambda c: heatmap_report(c, scope),
        "ratings": lambda c: ratings_report(c, scope),
    }
    for metric in ("conversations", "messages", "first_response", "resolution", "csat"):
        found[f"timeseries {metric} by day"] = lambda c, m=metric: timeseries_report(
            c, scope, m, "day"
        )
    found["timeseries messages by hour (30 days)"] = lambda c: timeseries_report(
        c,
        Scope(Period(YEAR_END - timedelta(days=30), YEAR_END, period.zone), site_ids),
        "messages",
        "hour",
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="a PostgreSQL URL: a fresh database is made beside it")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    parser.add_argument(
        "--keep",
        help="fill once and reuse on later runs: a SQLite file, or with --pg a database name",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, cleanup = _database(args.pg, Path(folder), args.keep)
        filled = False
        if args.keep is not None and args.pg is None:
            filled = Path(args.keep).exists()
            url = f"sqlite:///{args.keep}"
        elif args.keep is not None:
            filled = _has_rows(url)
        engine = make_engine(url, writer=True)
        try:
            upgrade(engine)
            began = time.perf_counter()
            if not filled:
                _fill(engine, args.conversations, args.messages_per_conversation)
            total = args.conversations * args.messages_per_conversation
            print(
                f"{engine.dialect.name}: {args.conversations:,} conversations, {total:,} "
                f"messages over a year, filled in {time.perf_counter() - began:.0f} s"
            )
            with engine.connect() as conn:
                some = [r[0] for r in conn.execute(text("SELECT id FROM sites ORDER BY id"))][:2]
                print(f"{'report':42} {'admin best/median ms':>22} {'agent (2 sites)':>18}")
                admin, agent = _reports(None), _reports(some)
                for name in admin:
                    best, middle = _time(conn, admin[name])
                    best_agent, middle_agent = _time(conn, agent[name])
                    print(
                        f"{name:42} {best:10.0f} / {middle:7.0f}   "
                        f"{best_agent:8.0f} / {middle_agent:5.0f}"
                    )
        finally:
            engine.dispose()
            cleanup()


def _has_rows(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM messages")).scalar())
    except Exception:
        return False
    finally:
        engine.dispose()


def _database(pg: str | None, folder: Path, keep: str | None) -> tuple[str, Callable[[], None]]:
    if pg is None:
        return f"sqlite:///{folder / 'reports.db'}", lambda: None
    name = keep or f"chatdesk_reports_bench_{random.randrange(10**8)}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        made = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if made.first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    if keep:
        admin.dispose()
        return pg.rsplit("/", 1)[0] + "/" + name, lambda: None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return pg.rsplit("/", 1)[0] + "/" + name, drop


if __name__ == "__main__":
    main()
