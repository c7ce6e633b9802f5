"""The outbox benchmark: webhooks/s to a local receiver, and the message POST with a webhook.

    .venv/bin/python bench/outbox.py            # about 3 minutes
    .venv/bin/python bench/outbox.py --quick    # a smoke run

Real processes on loopback: ``chatdesk serve`` (SQLite, its writer process), the
receiver (``bench/receiver.py``: answers 204, counts) and the load generator of
``bench/run.py``. Prints, not asserts:

(d) drain: ``N`` webhook deliveries queued in the outbox while the server was
    stopped (as after an outage), then the server started: deliveries/s until the
    receiver has them all (claim, sign, POST, record; the start-up included).
(p) the visitor message POST load of ``bench/run.py`` (a) at concurrency 64, in
    alternating rounds without and with a webhook subscribed to ``message.created``
    (paused / resumed between rounds), each with the server's CPU per message; after
    each round with the webhook, how long the deliveries took to catch up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from chatdesk.actions.events import append_event
from chatdesk.db.batch import Unit
from chatdesk.db.runner import Database
from chatdesk.jobs.outbox import insert_deliveries
from rawhttp import Conn
from run import (
    FULL,
    MESSAGES_PATH,
    QUICK,
    Plan,
    chatdesk_env,
    log,
    login,
    machine,
    prepare_chatdesk,
    run_load,
    seed_visitors,
)
from servers import BENCH_DIR, CLK_TCK, Server, descendants, free_port, raise_nofile

MESSAGE = {
    "message": {
        "id": "01jd3bench0000000000000000",
        "conversation_id": "01jd3conv00000000000000000",
        "author": {"type": "visitor", "id": "01jd3visitor00000000000000", "name": "Vera"},
        "body": "Hello, I have a question about my order, it has not arrived yet.",
        "private": False,
        "client_msg_id": "bench-1",
        "created_at": "2026-01-01T00:00:00Z",
    }
}


def queue_deliveries(unit: Unit, webhook_id: str, count: int) -> None:
    """``count`` message events and a delivery of each, due now (a unit of work)."""
    rows = []
    for _ in range(count):
        event_id = append_event(
            unit,
            "message.created",
            site_id="01jd3site00000000000000000",
            conversation_id="01jd3conv00000000000000000",
            visitor_id="01jd3visitor00000000000000",
            private=False,
            data=MESSAGE,
        )
        rows.append((webhook_id, "message.created", event_id))
    insert_deliveries(unit, rows)


async def call(port: int, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    conn = Conn(port)
    try:
        data = None if body is None else json.dumps(body).encode()
        response = await conn.request(method, path, headers, data)
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {response.body!r}")
        return response.json() if response.body else None
    finally:
        conn.close()


def received(port: int) -> int:
    async def ask() -> int:
        conn = Conn(port)
        try:
            return int((await conn.request("GET", "/count")).body)
        finally:
            conn.close()

    return uvloop.run(ask())


def wait_received(port: int, target: int, limit: float) -> float | None:
    """Seconds until the receiver has counted ``target`` POSTs (None: not within ``limit``)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if received(port) >= target:
            return time.perf_counter() - started
        time.sleep(0.02)
    return None


def stored_messages(server: Server, cookie_headers: dict[str, str]) -> int:
    """Messages the server stored, by its own count (/metrics)."""

    async def read() -> int:
        conn = Conn(server.port)
        try:
            text = (await conn.request("GET", "/metrics")).body.decode()
        finally:
            conn.close()
        for line in text.splitlines():
            if line.startswith('chatdesk_messages_stored_total{author="visitor"}'):
                return int(float(line.split()[-1]))
        return 0

    return uvloop.run(read())


def process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def split_cpu(server: Server) -> tuple[float, float]:
    """CPU seconds so far of the server process and of its writer process."""
    return process_cpu(server.pid), sum(process_cpu(pid) for pid in descendants(server.pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each kind in (p)")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--events",
        default="message.created",
        help="what the webhook subscribes to (comma-separated); conversation.created alone"
        " leaves the dispatcher running with nothing to queue during the load",
    )
    args = parser.parse_args()
    plan: Plan = QUICK if args.quick else FULL
    drain_count = 2000 if args.quick else 10_000
    raise_nofile()
    results: dict[str, Any] = {"machine": machine(), "rounds": []}
    receiver_port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "receiver.py"), str(receiver_port)]
    )
    with tempfile.TemporaryDirectory(prefix="chatdesk-outbox-") as tmp_name:
        env = {**chatdesk_env(Path(tmp_name)), "CHATDESK_WEBHOOK_ALLOW_PRIVATE": "true"}
        port = free_port()
        site_key = prepare_chatdesk(env, port)
        server = Server.chatdesk(env, port)
        try:
            time.sleep(0.3)
            server.start()
            visitors = uvloop.run(
                seed_visitors(port, site_key, plan.load_visitors, plan.load_visitors)
            )
            operator = uvloop.run(login(port))
            made = uvloop.run(
                call(
                    port,
                    "POST",
                    "/api/v1/webhooks",
                    operator.headers(),
                    {
                        "url": f"http://127.0.0.1:{receiver_port}/hook",
                        "events": args.events.split(","),
                    },
                )
            )
            hook = f"/api/v1/webhooks/{made['id']}"

            # (d) a backlog queued while the server was down, drained from its start.
            server.stop()
            db = Database(env["CHATDESK_DATABASE_URL"])
            db.start()
            db.write_sync(queue_deliveries, made["id"], drain_count)
            db.stop()
            before = received(receiver_port)
            log(f"(d) {drain_count} deliveries queued; starting the server")
            started = time.perf_counter()
            server.start()
            wait_received(receiver_port, before + drain_count, 300)
            total = time.perf_counter() - started
            results["drain"] = {"count": drain_count, "seconds": total, "rate": drain_count / total}
            log(f"(d) {drain_count / total:,.0f} deliveries/s ({total:.1f} s from start)")
            operator = uvloop.run(login(port))

            targets = [[MESSAGES_PATH.format(v.conversation_id), v.auth] for v in visitors]
            for round_no in range(args.rounds):
                for subscribed in (False, True):
                    uvloop.run(
                        call(port, "PATCH", hook, operator.headers(), {"active": subscribed})
                    )
                    time.sleep(0.5)
                    tag = f"p{round_no}{'w' if subscribed else 'n'}"
                    label = "with a webhook" if subscribed else "without"
                    log(f"(p) round {round_no + 1}: message POST load {label}")
                    got_before = received(receiver_port)
                    stored_before = stored_messages(server, operator.headers())
                    cpu_before = split_cpu(server)
                    load = run_load(server, plan, targets, tag)
                    cpu_after = split_cpu(server)
                    stored = stored_messages(server, operator.headers()) - stored_before
                    row: dict[str, Any] = {"round": round_no + 1, "webhook": subscribed, **load}
                    # Per message stored over the whole run (its warm-up included), apart.
                    row["server_us"] = (cpu_after[0] - cpu_before[0]) / max(stored, 1) * 1e6
                    row["writer_us"] = (cpu_after[1] - cpu_before[1]) / max(stored, 1) * 1e6
                    if subscribed:
                        at_end = received(receiver_port) - got_before
                        expected = stored if "message.created" in args.events else 0
                        lag = wait_received(receiver_port, got_before + expected, 120)
                        row.update(stored=stored, delivered_by_load_end=at_end, catch_up_s=lag)
                    results["rounds"].append(row)
                    log(
                        f"    {load['rate']:,.0f} msg/s, server CPU "
                        f"{load['server_cpu'] / max(load['rate'], 1) * 1e6:,.0f} us/msg"
                        + (
                            f"; deliveries caught up {row.get('catch_up_s')} s after"
                            if subscribed
                            else ""
                        )
                    )
        finally:
            server.stop()
            receiver.terminate()
            receiver.wait(timeout=10)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print()
    print(f"chatdesk outbox bench ({'quick' if args.quick else 'full'}), {results['machine']}")
    d = results["drain"]
    print(
        f"(d) drain: {d['count']:,} webhook deliveries in {d['seconds']:.1f} s from server start"
        f" = {d['rate']:,.0f} deliveries/s"
    )
    print("(p) message POST, concurrency 64, raw client:")
    for row in results["rounds"]:
        per = row["server_cpu"] / max(row["rate"], 1) * 1e6
        line = (
            f"    round {row['round']} {'with a webhook' if row['webhook'] else 'without     '}:"
            f" {row['rate']:,.0f} msg/s, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms,"
            f" server CPU {per:,.0f} us/msg ({row['server_cpu'] * 100:.0f}%; the server"
            f" process {row['server_us']:,.0f}, its writer {row['writer_us']:,.0f}),"
            f" other {row['other_cpu'] * 100:.0f}%"
        )
        if row["webhook"]:
            lag = row["catch_up_s"]
            caught = "not within 120 s" if lag is None else f"{lag:.1f} s"
            line += (
                f"; {row['stored']:,} stored, {row['delivered_by_load_end']:,} delivered by the"
                f" end of the load, all of them {caught} after it"
            )
        print(line)


if __name__ == "__main__":
    main()
