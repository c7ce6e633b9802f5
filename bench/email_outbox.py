"""The outbox's email throughput beside its webhook throughput, measured in one run.

    .venv/bin/python bench/email_outbox.py            # about a minute
    .venv/bin/python bench/email_outbox.py --quick    # a smoke run

Real processes on loopback: ``chatdesk serve`` (SQLite, its writer process) with email
on (``CHATDESK_SMTP_URL`` to the sink), an SMTP sink (``bench/smtp_sink.py``: aiosmtpd,
accepts and counts) and the webhook receiver (``bench/receiver.py``: answers 204 and
counts), each in a process of its own. Prints, not asserts.

Each round drains one backlog of each kind, as ``bench/outbox.py`` (d) does for
webhooks: ``N`` jobs queued while the server is stopped (as after an outage), then the
server started; jobs per second until the sink or the receiver has them all, from the
server's start (start-up included) and over the steady part (from the first arrival
to the last), with the CPU per job of chatdesk (the server process and its writer),
of the sink or receiver, and of everything else the machine ran meanwhile. The email
jobs are visitors' transcripts (``actions/email.py``, rendered when sent: one read of
the conversation, text and HTML from the templates, one SMTP connection each); the
webhook jobs are ``message.created`` deliveries of ``bench/outbox.py``. Both kinds go
through the same worker, ``CHATDESK_JOB_CONCURRENCY`` (16) at once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from chatdesk.actions.email import queue_email
from chatdesk.db.batch import Unit
from chatdesk.db.runner import Database
from outbox import call, process_cpu, queue_deliveries, received
from rawhttp import Conn
from run import chatdesk_env, log, login, machine, machine_busy_seconds, prepare_chatdesk
from servers import BENCH_DIR, Server, free_port, raise_nofile


@dataclass(frozen=True)
class Sizes:
    conversations: int  # visitors with an email address, each with a conversation
    emails: int  # email jobs per drain
    webhooks: int  # webhook deliveries per drain
    rounds: int


FULL = Sizes(conversations=200, emails=3000, webhooks=10_000, rounds=2)
QUICK = Sizes(conversations=50, emails=300, webhooks=1000, rounds=1)


def queue_transcripts(unit: Unit, conversation_ids: list[str], count: int) -> None:
    """``count`` transcript emails, due now, over the conversations in turn (a unit)."""
    for i in range(count):
        conversation_id = conversation_ids[i % len(conversation_ids)]
        queue_email(unit, {"template": "transcript", "conversation_id": conversation_id})


async def seed_conversations(port: int, site_key: str, count: int) -> list[str]:
    """Visitors with an email address, each starting a conversation (the HTTP API)."""
    conn = Conn(port)
    ids = []
    try:
        for i in range(count):
            body = {"site_key": site_key, "name": f"Vera {i}", "email": f"vera{i}@example.org"}
            response = await conn.request(
                "POST",
                "/api/v1/widget/sessions",
                {"content-type": "application/json"},
                json.dumps(body).encode(),
            )
            token = response.json()["visitor_token"]
            first = {"body": "Hello, where is my order? It has not arrived.", "client_msg_id": "1"}
            response = await conn.request(
                "POST",
                "/api/v1/widget/conversations",
                {"content-type": "application/json", "authorization": f"Bearer {token}"},
                json.dumps(first).encode(),
            )
            ids.append(response.json()["conversation"]["id"])
    finally:
        conn.close()
    return ids


@dataclass(frozen=True)
class Sample:
    at: float
    count: int
    server_cpu: float
    counter_cpu: float
    busy: float


def sample(server: Server, counter: subprocess.Popen[bytes], port: int, before: int) -> Sample:
    return Sample(
        time.perf_counter(),
        received(port) - before,
        server.cpu_seconds(),
        process_cpu(counter.pid),
        machine_busy_seconds(),
    )


def drain(
    server: Server,
    db_url: str,
    queue: Any,
    args: tuple[Any, ...],
    count: int,
    counter: subprocess.Popen[bytes],
    counter_port: int,
) -> dict[str, Any]:
    """Queue ``count`` jobs with the server stopped, start it, time the drain."""
    server.stop()
    db = Database(db_url)
    db.start()
    db.write_sync(queue, *args)
    db.stop()
    before = received(counter_port)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    server.start()
    first: Sample | None = None
    last = sample(server, counter, counter_port, before)
    while last.count < count and last.at - started < 300:
        time.sleep(0.02)
        last = sample(server, counter, counter_port, before)
        if first is None and last.count > 0:
            first = last
    assert first is not None, "nothing arrived"
    steady = max(last.count - first.count, 1)
    server_cpu = last.server_cpu - first.server_cpu
    counter_cpu = last.counter_cpu - first.counter_cpu
    busy = last.busy - first.busy
    seconds = last.at - first.at
    return {
        "count": last.count,
        "load_1m_before": load,
        "from_start_s": last.at - started,
        "rate_from_start": last.count / (last.at - started),
        "steady_s": seconds,
        "rate_steady": steady / seconds if seconds > 0 else None,
        "server_us_per_job": server_cpu / steady * 1e6,
        "counter_us_per_job": counter_cpu / steady * 1e6,
        # Cores busy with anything else (this bench's own polling included).
        "other_cores": max(busy - server_cpu - counter_cpu, 0.0) / seconds if seconds else 0,
        "server_cores": server_cpu / seconds if seconds else 0,
    }


def describe(kind: str, r: dict[str, Any]) -> str:
    steady = r["rate_steady"]
    return (
        f"{kind:8} {r['count']:>6,}: {r['rate_from_start']:>6,.0f}/s from start"
        f" ({r['from_start_s']:.1f} s), {steady:>6,.0f}/s steady ({r['steady_s']:.1f} s);"
        f" chatdesk {r['server_us_per_job']:,.0f} us/job ({r['server_cores'] * 100:.0f}%"
        f" of a core), {'sink' if kind == 'emails' else 'receiver'}"
        f" {r['counter_us_per_job']:,.0f} us/job; other processes"
        f" {r['other_cores'] * 100:.0f}% of a core; load {r['load_1m_before']:.2f} before"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or sizes.rounds
    raise_nofile()
    results: dict[str, Any] = {
        "machine": machine(),
        "load_at_start": os.getloadavg(),
        "rounds": [],
    }
    receiver_port, smtp_port, sink_count_port = free_port(), free_port(), free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "receiver.py"), str(receiver_port)]
    )
    sink = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "smtp_sink.py"), str(smtp_port), str(sink_count_port)]
    )
    with tempfile.TemporaryDirectory(prefix="chatdesk-email-outbox-") as tmp_name:
        port = free_port()
        env = {
            **chatdesk_env(Path(tmp_name)),
            "CHATDESK_WEBHOOK_ALLOW_PRIVATE": "true",
            "CHATDESK_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "CHATDESK_EMAIL_FROM": "Support <help@shop.example.com>",
            "CHATDESK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        db_url = env["CHATDESK_DATABASE_URL"]
        site_key = prepare_chatdesk(env, port)
        server = Server.chatdesk(env, port)
        try:
            time.sleep(0.3)
            server.start()
            log(f"seeding {sizes.conversations} visitors with an email and a conversation")
            conversation_ids = uvloop.run(seed_conversations(port, site_key, sizes.conversations))
            operator = uvloop.run(login(port))
            # Made after the seeding and subscribed to nothing the drains add: the only
            # deliveries are those queued below.
            hook = uvloop.run(
                call(
                    port,
                    "POST",
                    "/api/v1/webhooks",
                    operator.headers(),
                    {
                        "url": f"http://127.0.0.1:{receiver_port}/hook",
                        "events": ["conversation.created"],
                    },
                )
            )
            for round_no in range(1, rounds + 1):
                row: dict[str, Any] = {"round": round_no}
                log(f"round {round_no}: {sizes.webhooks:,} webhook deliveries")
                row["webhooks"] = drain(
                    server,
                    db_url,
                    queue_deliveries,
                    (hook["id"], sizes.webhooks),
                    sizes.webhooks,
                    receiver,
                    receiver_port,
                )
                log("    " + describe("webhooks", row["webhooks"]))
                log(f"round {round_no}: {sizes.emails:,} emails")
                row["emails"] = drain(
                    server,
                    db_url,
                    queue_transcripts,
                    (conversation_ids, sizes.emails),
                    sizes.emails,
                    sink,
                    sink_count_port,
                )
                log("    " + describe("emails", row["emails"]))
                results["rounds"].append(row)
        finally:
            server.stop()
            for process in (receiver, sink):
                process.terminate()
                process.wait(timeout=10)
    results["load_at_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print()
    print(f"chatdesk outbox: emails beside webhooks ({'quick' if args.quick else 'full'})")
    print(f"{results['machine']}; load average at start {results['load_at_start'][0]:.2f}")
    for row in results["rounds"]:
        print(f"round {row['round']}:")
        for kind in ("webhooks", "emails"):
            print("    " + describe(kind, row[kind]))


if __name__ == "__main__":
    main()
