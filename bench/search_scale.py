"""Search at scale: fill a database with bulk SQL, build the full-text index, time searches.

    .venv/bin/python bench/search_scale.py                       # SQLite, 1,000,000 messages
    .venv/bin/python bench/search_scale.py --messages 200000
    .venv/bin/python bench/search_scale.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

Makes a fresh database (a temporary SQLite file, or a new PostgreSQL database on that
server, dropped afterwards), migrates it to 0015 (before the index), fills it with bulk
SQL (100,000 conversations with 10 messages each at full size, three sites, visitors with
names and addresses, bodies drawn from a vocabulary with a Zipf-like spread), then runs
migration 0016, which indexes what is there (its time is printed). Then it times, warm,
the median of several runs of one page (25) of ``GET /api/v1/conversations?q=`` as the
API computes it (``queries.conversations.list_conversations``: ranked ids, the rows,
the snippets), for an owner and for an agent of one site, beside the ILIKE query it
replaces, in the same run. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, exists, insert, or_, select, text

from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.tables import conversations, messages, sites, visitors
from chatdesk.queries.conversations import ConversationFilter, list_conversations
from chatdesk.security.principals import OperatorActor

RARE = "xylophone"  # in RARE_COUNT messages
RARE_COUNT = 5
COMMON = "order"  # in about a third of the messages
PER_CONVERSATION = 10
SITES = 3
BATCH = 20_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def vocabulary(size: int = 3000) -> list[str]:
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "va", "zu", "ge"]
    words = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size)}
    return sorted(words)


def bodies(count: int) -> Iterator[str]:
    """Message bodies: 4 to 30 words, a Zipf-like spread over the vocabulary, COMMON in about
    a third, RARE in RARE_COUNT of them."""
    rng = random.Random(11)
    words = vocabulary()
    weights = [1 / (rank + 1) for rank in range(len(words))]
    rare_at = set(rng.sample(range(count), RARE_COUNT))
    for index in range(count):
        chosen = rng.choices(words, weights, k=rng.randint(4, 30))
        if rng.random() < 0.33:
            chosen.insert(rng.randrange(len(chosen)), COMMON)
        if index in rare_at:
            chosen.insert(rng.randrange(len(chosen)), RARE)
        yield " ".join(chosen).capitalize() + "."


def _defaults(table: Any, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Values for the NOT NULL columns without a default that ``row`` leaves out."""
    filled = dict(row)
    for col in table.c:
        if col.name in filled or col.nullable or col.default or col.server_default:
            continue
        python = col.type.python_type
        filled[col.name] = {str: "x", bool: False, int: 0, datetime: now}.get(python, "[]")
    return filled


def fill(engine: Engine, total_messages: int) -> tuple[list[str], str]:
    """Sites, visitors, conversations and messages, in bulk; returns the site ids and an
    agent-visible site."""
    conversation_count = max(1, total_messages // PER_CONVERSATION)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    site_ids = [uuid.uuid4().hex for _ in range(SITES)]
    with engine.begin() as conn:
        for index, site_id in enumerate(site_ids):
            row = {"id": site_id, "name": f"Site {index}", "site_key": f"pk_{site_id}"}
            row |= {"allowed_origins": [], "greeting": "Hi", "accent_color": "#000000"}
            row |= {"position": "right", "enabled": True, "identity_required": False}
            row |= {"locale": "en" if index == 0 else "auto"}
            row |= {"created_at": start, "updated_at": start}
            conn.execute(insert(sites), [_defaults(sites, row, start)])
    text_of = bodies(conversation_count * PER_CONVERSATION)
    rng = random.Random(5)
    first = ["Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo"]
    last = ["Lovelace", "Hopper", "Turing", "Noether", "Curie", "Meitner", "Franklin"]
    done = 0
    started = time.monotonic()
    for base in range(0, conversation_count, BATCH // PER_CONVERSATION):
        size = min(BATCH // PER_CONVERSATION, conversation_count - base)
        visitor_rows, conversation_rows, message_rows = [], [], []
        for index in range(base, base + size):
            site_id = site_ids[index % SITES]
            moment = start + timedelta(minutes=index)
            visitor_id, conversation_id = f"v{index:011d}", f"c{index:011d}"
            name = f"{rng.choice(first)} {rng.choice(last)}"
            visitor_rows.append(
                {
                    "id": visitor_id,
                    "site_id": site_id,
                    "name": name,
                    "email": f"{name.split()[0].lower()}{index}@mail{index % 50}.example",
                    "created_at": moment,
                    "last_seen_at": moment,
                }
            )
            conversation_rows.append(
                {
                    "id": conversation_id,
                    "site_id": site_id,
                    "visitor_id": visitor_id,
                    "status": ("open", "pending", "resolved", "resolved")[index % 4],
                    "created_at": moment,
                    "updated_at": moment,
                    "last_message_at": moment + timedelta(seconds=PER_CONVERSATION),
                    "last_message_preview": "…",
                    "last_message_author": "visitor",
                    "unread_count": 0,
                }
            )
            for number in range(PER_CONVERSATION):
                message_rows.append(
                    {
                        "id": f"m{index:011d}{number:03d}",
                        "conversation_id": conversation_id,
                        "author_type": "visitor" if number % 2 == 0 else "operator",
                        "author_id": visitor_id if number % 2 == 0 else None,
                        "author_name": None,
                        "body": next(text_of),
                        "private": number == 5,
                        "client_msg_id": None,
                        "created_at": moment + timedelta(seconds=number),
                        "mentions": None,
                        "kind": None,
                        "data": None,
                    }
                )
        with engine.begin() as conn:
            conn.execute(insert(visitors), visitor_rows)
            conn.execute(insert(conversations), conversation_rows)
            conn.execute(insert(messages), message_rows)
        done += len(message_rows)
        log(f"  filled {done:,} messages ({time.monotonic() - started:.0f} s)")
    return site_ids, site_ids[0]


def insert_cost(engine: Engine, count: int, tag: str) -> float:
    """Microseconds of database time per message INSERT (one statement each, in batches
    of 64 per transaction, as the writer batches them) into existing conversations."""
    rows = [
        {
            "id": f"x{tag}{index:09d}",
            "conversation_id": f"c{index % 1000:011d}",
            "author_type": "visitor",
            "author_id": None,
            "author_name": None,
            "body": body,
            "private": False,
            "client_msg_id": None,
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "mentions": None,
            "kind": None,
            "data": None,
        }
        for index, body in zip(range(count), bodies(count), strict=True)
    ]
    statement = insert(messages)
    began = time.perf_counter()
    for start in range(0, count, 64):
        with engine.begin() as conn:
            for row in rows[start : start + 64]:
                conn.execute(statement, row)
    return (time.perf_counter() - began) * 1e6 / count


def ilike_page(conn: Connection, actor: OperatorActor, q: str) -> list[str]:
    """The query search ran before the index (ILIKE over every body), one page of 25."""
    c = conversations
    pattern = f"%{q}%"
    query = select(c.c.id).join(visitors, visitors.c.id == c.c.visitor_id)
    if actor.site_ids is not None:
        query = query.where(c.c.site_id.in_(sorted(actor.site_ids)))
    query = query.where(
        or_(
            visitors.c.name.ilike(pattern),
            visitors.c.email.ilike(pattern),
            exists().where(
                and_(messages.c.conversation_id == c.c.id, messages.c.body.ilike(pattern))
            ),
        )
    )
    return list(
        conn.execute(query.order_by(c.c.last_message_at.desc(), c.c.id.desc()).limit(26)).scalars()
    )


def timed(engine: Engine, fn: Callable[[Connection], Any], repeat: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeat`` warm runs (one more first, not counted)."""
    times = []
    result = None
    with engine.connect() as conn:
        for attempt in range(repeat + 1):
            began = time.perf_counter()
            result = fn(conn)
            if attempt:
                times.append((time.perf_counter() - began) * 1000)
            conn.rollback()
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the database (SQLite: build it at this path; PostgreSQL: any value)",
    )
    parser.add_argument("--ilike-repeat", type=int, default=3)
    parser.add_argument("--inserts", type=int, default=5000, help="messages for the insert cost")
    args = parser.parse_args()
    admin: Engine | None = None
    with tempfile.TemporaryDirectory(prefix="chatdesk-search-") as tmp:
        if args.database_url:
            name = f"chatdesk_search_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = args.database_url.rsplit("/", 1)[0] + "/" + name
        else:
            url = f"sqlite:///{args.keep or Path(tmp) / 'search.db'}"
        engine = make_engine(url, writer=True)
        try:
            run(engine, url, args)
        finally:
            engine.dispose()
            if admin is not None and args.keep:
                log(f"kept {url}")
            elif admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


def run(engine: Engine, url: str, args: argparse.Namespace) -> None:
    log(f"{engine.dialect.name}: migrating to 0015, filling {args.messages:,} messages")
    upgrade(engine, "0015")
    began = time.monotonic()
    _site_ids, agent_site = fill(engine, args.messages)
    filled_s = time.monotonic() - began
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    before_us = insert_cost(engine, args.inserts, "a")
    log("migration 0016 (builds the index):")
    began = time.monotonic()
    upgrade(engine, "head")
    indexed_s = time.monotonic() - began
    after_us = insert_cost(engine, args.inserts, "b")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE messages"))
            conn.execute(text("ANALYZE visitors"))
        else:
            conn.execute(text("ANALYZE"))
        found_rare = conn.execute(
            select(text("count(*)")).select_from(messages).where(messages.c.body.contains(RARE))
        ).scalar()
    owner = OperatorActor("bench-owner", "Owner", "o@example.com", "owner", None)
    agent = OperatorActor("bench-agent", "Agent", "a@example.com", "agent", frozenset([agent_site]))
    rows = []
    for who, actor in (("owner", owner), ("agent (1 of 3 sites)", agent)):
        for label, term in ((f"rare ({found_rare} messages)", RARE), ("common (~1/3)", COMMON)):
            flt = ConversationFilter(q=term, limit=25)
            fts_ms, page = timed(
                engine, lambda conn, a=actor, f=flt: list_conversations(conn, a, f), args.repeat
            )
            ilike_ms, _ids = timed(
                engine, lambda conn, a=actor, t=term: ilike_page(conn, a, t), args.ilike_repeat
            )
            rows.append((who, label, fts_ms, ilike_ms, len(page[0])))
    print()
    print(
        f"search at scale: {engine.dialect.name}, {args.messages:,} messages in "
        f"{max(1, args.messages // PER_CONVERSATION):,} conversations "
        f"(filled in {filled_s:.0f} s, indexed by migration 0016 in {indexed_s:.0f} s)"
    )
    print(
        f"message INSERT, {args.inserts:,} one by one in transactions of 64: "
        f"{before_us:.0f} us each without the index, {after_us:.0f} us with it"
    )
    print("| caller | term | full-text page (median) | ILIKE page, same run | results |")
    print("|---|---|---|---|---|")
    for who, label, fts_ms, ilike_ms, count in rows:
        print(f"| {who} | {label} | {fts_ms:.1f} ms | {ilike_ms:.0f} ms | {count} |")


if __name__ == "__main__":
    main()
