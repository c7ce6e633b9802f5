"""Scale: a realistic export file, imported, then the reads that grow with the data.

Writes an export file in ``chatdesk export``'s format (ADR 0027): three sites, twelve
operators, one visitor per conversation, ``--messages`` messages in conversations of
about ten (visitor and operator turns, private notes), one conversation of 500, three
quarters resolved, a third of those rated (first response and resolution stored on the
conversation, as the server does), labels; spread over the last year, bodies
drawn from a Zipf-like vocabulary with a common term (``order``, about one message in
eight) and a rare one (``xylophone``, in three messages). Then for each database:

* ``chatdesk import``'s work (``transfer.load.import_database``), timed;
* through the HTTP API (the app in process, an API token): the inbox's first page, its
  page of open conversations, search for the rare and the common term, the 500
  messages of the long conversation (three pages of 200), and the reports over the
  last year (summary, first response by day, sites, agents, busiest hours, ratings);
* ``chatdesk export``'s work, timed.

Run: ``.venv/bin/python bench/scale.py --messages 100000 --database sqlite postgresql``
(PostgreSQL: a database of its own on ``$CHATDESK_TEST_DATABASE_URL``'s server, dropped
afterwards). Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from chatdesk.app import create_app
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import head_revision
from chatdesk.ids import encode_id, hash_token
from chatdesk.settings import Settings
from chatdesk.transfer.datafile import encode_line, exported_tables, header
from chatdesk.transfer.dump import export_database
from chatdesk.transfer.load import import_database

TOKEN = "cdk_" + "b" * 43  # the bench's API token (an owner's, admin role)
RARE, COMMON = "xylophone", "order"
LONG = 500


def _id(when: datetime, rng: random.Random) -> str:
    millis = int(when.timestamp() * 1000)
    return encode_id((millis << 80) | rng.getrandbits(79))


def _vocabulary(rng: random.Random, size: int = 3000) -> tuple[list[str], list[float]]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(size)}
    ranked = sorted(words - {RARE, COMMON})
    rng.shuffle(ranked)
    weights, total = [], 0.0
    for rank in range(1, len(ranked) + 1):
        total += 1 / rank
        weights.append(total)
    return ranked, weights


class Generator:
    """The rows of the file, table by table, parents first."""

    def __init__(self, messages: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.messages = messages
        self.conversations = max(messages // 10, 1)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.words, self.weights = _vocabulary(self.rng)
        self.sites = [_id(self.now - timedelta(days=400), self.rng) for _ in range(3)]
        self.operators = [_id(self.now - timedelta(days=400), self.rng) for _ in range(12)]
        self.labels = {
            name: _id(self.now - timedelta(days=400), self.rng)
            for name in ("billing", "bug", "vip", "refund", "shipping")
        }
        self.rare_left = 3

    def lines(self) -> Iterator[str]:
        tables = exported_tables(secrets=True)
        yield encode_line(header(head_revision(), secrets=True, tables=tables))
        rows = 0
        for table, row in self._rows():
            rows += 1
            yield encode_line({"t": table, "r": row})
        yield encode_line({"end": {"rows": rows}})

    def _rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        start = (self.now - timedelta(days=400)).isoformat()
        for n, site_id in enumerate(self.sites):
            yield (
                "sites",
                {
                    "id": site_id,
                    "name": f"Shop {n}",
                    "site_key": f"site{n}" + "k" * 20,
                    "allowed_origins": [f"https://shop{n}.example.com"],
                    "greeting": "Hi!",
                    "accent_color": "#2563eb",
                    "position": "right",
                    "prechat_name": "optional",
                    "prechat_email": "optional",
                    "offline_message": "Leave a message",
                    "business_hours": None,
                    "enabled": True,
                    "identity_secret": None,
                    "identity_required": False,
                    "created_at": start,
                    "updated_at": start,
                },
            )
        for n, operator_id in enumerate(self.operators):
            yield (
                "operators",
                {
                    "id": operator_id,
                    "email": f"op{n}@example.com",
                    "name": f"Operator {n}",
                    "role": "owner" if n == 0 else "agent",
                    "password_hash": "!",
                    "active": True,
                    "created_at": start,
                    "updated_at": start,
                },
            )
        for n, operator_id in enumerate(self.operators[1:]):
            yield "site_operators", {"site_id": self.sites[n % 3], "operator_id": operator_id}
        yield (
            "api_tokens",
            {
                "id": _id(self.now, self.rng),
                "name": "bench",
                "token_hash": hash_token(TOKEN),
                "prefix": TOKEN[:10],
                "role": "admin",
                "operator_id": self.operators[0],
                "created_at": start,
            },
        )
        for name, label_id in self.labels.items():
            yield "labels", {"id": label_id, "name": name, "created_at": start}
        plan = self._plan()
        for conversation in plan:
            yield "visitors", conversation["visitor"]
        for conversation in plan:
            yield "conversations", conversation["row"]
        for conversation in plan:
            for label_id in conversation["labels"]:
                yield (
                    "conversation_labels",
                    {"conversation_id": conversation["row"]["id"], "label_id": label_id},
                )
        for conversation in plan:
            yield from (("messages", m) for m in self._messages(conversation))

    def _plan(self) -> list[dict[str, Any]]:
        """Each conversation's row, visitor and message count (the first one: LONG)."""
        rng = self.rng
        left = self.messages - LONG
        plan = []
        for n in range(self.conversations):
            count = LONG if n == 0 else max(1, min(left, int(rng.expovariate(1 / 9.5)) + 1))
            if n:
                left -= count
            site = self.sites[n % 3]
            began = self.now - timedelta(seconds=rng.randint(3600, 365 * 86400))
            visitor_id = _id(began, rng)
            status = rng.choices(["resolved", "open", "pending"], [75, 18, 7])[0]
            rated = status == "resolved" and rng.random() < 0.33
            ended = began + timedelta(seconds=60 * count)
            row = {
                "id": _id(began, rng),
                "site_id": site,
                "visitor_id": visitor_id,
                "status": status,
                "assignee_id": rng.choice(self.operators[1:]),
                "created_at": began.isoformat(),
                "updated_at": ended.isoformat(),
                "last_message_at": ended.isoformat(),
                "last_message_preview": "",
                "last_message_author": "operator",
                "unread_count": 0,
                "rating_score": rng.choice([3, 4, 5, 5, 5, 1]) if rated else None,
                "rating_comment": "Quick and kind" if rated else None,
                "rated_at": ended.isoformat() if rated else None,
                # Stored as they happen (ADR 0026): the first reply, the resolution.
                "message_count": count,
                "in_business_hours": True,
            }
            if count > 1:
                replied = rng.randint(20, 600)
                row["first_response_at"] = (began + timedelta(seconds=replied)).isoformat()
                row["first_response_seconds"] = replied
            if status == "resolved":
                took = 60 * count + rng.randint(60, 3600)
                row["resolved_at"] = (began + timedelta(seconds=took)).isoformat()
                row["resolution_seconds"] = took
            visitor = {
                "id": visitor_id,
                "site_id": site,
                "name": f"Visitor {n}",
                "email": f"visitor{n}@example.org",
                "created_at": began.isoformat(),
                "last_seen_at": ended.isoformat(),
            }
            labels = rng.sample(list(self.labels.values()), k=rng.choice([0, 0, 0, 1, 2]))
            plan.append(
                {"row": row, "visitor": visitor, "count": count, "labels": labels, "began": began}
            )
        return plan

    def _body(self) -> str:
        words = self.rng.choices(self.words, cum_weights=self.weights, k=self.rng.randint(4, 24))
        if self.rng.random() < 0.125:
            words[self.rng.randrange(len(words))] = COMMON
        if self.rare_left and self.rng.random() < 3 / max(self.messages, 1) * 4:
            words.append(RARE)
            self.rare_left -= 1
        return " ".join(words)

    def _messages(self, conversation: dict[str, Any]) -> Iterator[dict[str, Any]]:
        row = conversation["row"]
        when = conversation["began"]
        for n in range(conversation["count"]):
            when += timedelta(seconds=self.rng.randint(5, 110))
            visitor_turn = n % 2 == 0
            private = not visitor_turn and self.rng.random() < 0.05
            body = self._body()
            yield {
                "id": _id(when, self.rng),
                "conversation_id": row["id"],
                "author_type": "visitor" if visitor_turn else "operator",
                "author_id": row["visitor_id"] if visitor_turn else row["assignee_id"],
                "author_name": None,
                "body": body,
                "private": private,
                "created_at": when.isoformat(),
            }
        row["last_message_preview"] = body[:200]


def _timed(fn: Callable[[], Any], runs: int = 7) -> float:
    """Median milliseconds of ``runs`` calls, after one warm-up."""
    fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    answer = client.get(path, params=params, headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def measure(url: str, export_file: Path, work: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    engine = make_engine(url, pool_size=1, writer=True)
    started = time.perf_counter()
    rows = import_database(engine, export_file)
    figures["import (s)"] = time.perf_counter() - started
    engine.dispose()
    if url.startswith("postgresql"):
        analyze = create_engine(url, isolation_level="AUTOCOMMIT")
        with analyze.connect() as conn:
            conn.execute(text("ANALYZE"))
        analyze.dispose()
    print(f"  imported {rows} rows in {figures['import (s)']:.1f} s", file=sys.stderr)
    settings = Settings(
        env="test",
        database_url=url,
        files_dir=str(work / "files"),
        redis_url=None,
        rate_limits="off",
        log_level="warning",
    )
    with TestClient(create_app(settings)) as client:
        _get(client, "/api/v1/conversations", limit=1, q=RARE)  # warm
        figures["inbox page (ms)"] = _timed(lambda: _get(client, "/api/v1/conversations"))
        figures["inbox, open (ms)"] = _timed(
            lambda: _get(client, "/api/v1/conversations", status="open")
        )
        rare = _get(client, "/api/v1/conversations", q=RARE)["conversations"]
        figures["search rare (ms)"] = _timed(lambda: _get(client, "/api/v1/conversations", q=RARE))
        figures["search common (ms)"] = _timed(
            lambda: _get(client, "/api/v1/conversations", q=COMMON)
        )
        long_id = _longest(url)

        def read_long() -> None:
            before = None
            seen = 0
            while True:
                page = _get(
                    client,
                    f"/api/v1/conversations/{long_id}/messages",
                    limit=200,
                    **({"before": before} if before else {}),
                )
                seen += len(page["messages"])
                if len(page["messages"]) < 200:
                    break
                before = page["messages"][0]["id"]
            assert seen >= LONG, seen

        figures["500 messages (ms)"] = _timed(read_long, runs=5)
        year = {
            "from": (datetime.now(UTC) - timedelta(days=365)).isoformat(),
            "to": datetime.now(UTC).isoformat(),
            "tz": "Europe/Paris",
        }
        for name, path, extra in (
            ("summary", "summary", {}),
            ("by day", "timeseries", {"metric": "first_response", "interval": "day"}),
            ("sites", "sites", {}),
            ("agents", "agents", {}),
            ("heatmap", "heatmap", {}),
            ("ratings", "ratings", {}),
        ):
            figures[f"report {name} (ms)"] = _timed(
                lambda path=path, extra=extra: _get(
                    client, f"/api/v1/reports/{path}", **year, **extra
                ),
                runs=5,
            )
    print(f"  rare term found in {len(rare)} conversations", file=sys.stderr)
    engine = make_engine(url, pool_size=1)
    started = time.perf_counter()
    export_database(engine, work / "again.jsonl", secrets=True)
    figures["export (s)"] = time.perf_counter() - started
    engine.dispose()
    return figures


def _longest(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT conversation_id FROM messages GROUP BY conversation_id "
                "ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar_one()
    engine.dispose()
    return str(found)


@contextmanager
def _postgres() -> Iterator[str]:
    admin_url = os.environ.get(
        "CHATDESK_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"chatdesk_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--database", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="chatdesk-scale-") as tmp:
        work = Path(tmp)
        for count in args.messages:
            export_file = work / f"scale-{count}.jsonl"
            started = time.perf_counter()
            with export_file.open("w", encoding="utf-8") as handle:
                handle.writelines(Generator(count).lines())
            size = export_file.stat().st_size / 1e6
            print(
                f"{count} messages: generated {size:.0f} MB in "
                f"{time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            for database in args.database:
                print(f" {database}", file=sys.stderr)
                if database == "sqlite":
                    url = f"sqlite:///{work / f'scale-{count}.db'}"
                    results[(database, count)] = measure(url, export_file, work)
                    Path(url.removeprefix("sqlite:///")).unlink()
                else:
                    with _postgres() as url:
                        results[(database, count)] = measure(url, export_file, work)
            export_file.unlink()
    columns = list(next(iter(results.values())))
    print("| database | messages | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for (database, count), figures in results.items():
        cells = " | ".join(f"{figures[c]:.1f}" for c in columns)
        print(f"| {database} | {count:,} | {cells} |")


if __name__ == "__main__":
    main()
