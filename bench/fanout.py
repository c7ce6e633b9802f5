"""Real-time fan-out: what each operator stream costs while visitors post at a fixed rate.

    .venv/bin/python bench/fanout.py                     # 0, 1, 10, 50, 200 streams
    .venv/bin/python bench/fanout.py --streams 0,1,10 --rate 150 --seconds 10

One chatdesk server (SQLite, writer process) with 1,000 parked visitor listeners
(half long-poll, half SSE); for each count of operator console streams (SSE on
/api/v1/events, an owner's: every event) visitors post messages at a fixed rate,
open loop (each message leaves at its scheduled time, whether or not earlier
ones were answered). Prints the server's CPU (its process and the writer's) per
message and per operator delivery, and delivery p50/p99 from the message's
scheduled send to its arrival at the operator streams and at the posting
visitor's own listener. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from rawhttp import Conn
from run import MESSAGES_PATH, chatdesk_env, log, login, pct, prepare_chatdesk, seed_visitors
from servers import Server, free_port, raise_nofile

EVENTS_CONSOLE = "/api/v1/events"
EVENTS_WIDGET = "/api/v1/widget/events"
KEY = re.compile(rb'"client_msg_id": ?"(f[0-9]+-[0-9]+)"')
SENDERS = 48  # connections the open-loop sender spreads messages over


class Arrivals:
    """First arrival of each message key per listener, as seconds after its send."""

    def __init__(self) -> None:
        self.sent: dict[bytes, float] = {}
        self.operator: list[float] = []
        self.visitor: list[float] = []
        self.errors: list[str] = []

    def seen(self, chunk: bytes, now: float, into: list[float], mine: set[bytes]) -> None:
        for key in KEY.findall(chunk):
            started = self.sent.get(key)
            if started is not None and key not in mine:
                mine.add(key)
                into.append(now - started)


async def operator_stream(port: int, cookie: str, arrivals: Arrivals, opened: list[int]) -> None:
    conn = Conn(port)
    mine: set[bytes] = set()
    try:
        await conn.open()
        headers = {"cookie": f"chatdesk_session={cookie}", "accept": "text/event-stream"}
        conn.send("GET", EVENTS_CONSOLE, headers)
        status, _, _ = await conn.read_head()
        if status != 200:
            arrivals.errors.append(f"operator stream {status}")
            return
        opened[0] += 1
        while chunk := await conn.read_chunk():
            arrivals.seen(chunk, time.perf_counter(), arrivals.operator, mine)
    except (OSError, asyncio.IncompleteReadError) as exc:
        arrivals.errors.append(f"operator stream {type(exc).__name__}")
    finally:
        conn.close()


async def visitor_sse(port: int, auth: str, cursor: int, arrivals: Arrivals) -> None:
    conn = Conn(port)
    mine: set[bytes] = set()
    try:
        await conn.open()
        conn.send(
            "GET",
            f"{EVENTS_WIDGET}?after={cursor}",
            {"authorization": auth, "accept": "text/event-stream"},
        )
        status, _, _ = await conn.read_head()
        if status != 200:
            arrivals.errors.append(f"visitor sse {status}")
            return
        while chunk := await conn.read_chunk():
            arrivals.seen(chunk, time.perf_counter(), arrivals.visitor, mine)
    except (OSError, asyncio.IncompleteReadError) as exc:
        arrivals.errors.append(f"visitor sse {type(exc).__name__}")
    finally:
        conn.close()


async def visitor_long_poll(
    port: int, auth: str, cursor: int, arrivals: Arrivals, wait: int = 25
) -> None:
    """A widget's long-poll loop, each poll parked for up to ``wait`` seconds."""
    conn = Conn(port)
    mine: set[bytes] = set()
    try:
        await conn.open()
        while True:
            conn.send("GET", f"{EVENTS_WIDGET}?after={cursor}&wait={wait}", {"authorization": auth})
            status, headers, _ = await conn.read_head()
            body = await conn.read_body(headers)
            if status != 200:
                arrivals.errors.append(f"visitor long-poll {status}")
                return
            arrivals.seen(body, time.perf_counter(), arrivals.visitor, mine)
            cursor = json.loads(body)["cursor"]
    except (OSError, asyncio.IncompleteReadError) as exc:
        arrivals.errors.append(f"visitor long-poll {type(exc).__name__}")
    finally:
        conn.close()


async def send_open_loop(
    port: int, targets: list[Any], rate: float, seconds: float, tag: str, arrivals: Arrivals
) -> int:
    """Post ``rate`` messages a second for ``seconds``, each at its scheduled time."""
    free: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(SENDERS):
        free.put_nowait(Conn(port))
    pending: set[asyncio.Task[None]] = set()

    async def one(n: int, at: float) -> None:
        conn = await free.get()
        path, auth = targets[n % len(targets)]
        key = f"{tag}-{n}"
        body = json.dumps({"body": f"fan-out {key}", "client_msg_id": key}).encode()
        arrivals.sent[key.encode()] = at
        try:
            response = await conn.request(
                "POST", path, {"content-type": "application/json", "authorization": auth}, body
            )
            if response.status != 201:
                arrivals.errors.append(f"post {response.status}")
        except (OSError, asyncio.IncompleteReadError) as exc:
            arrivals.errors.append(f"post {type(exc).__name__}")
            conn.close()
        free.put_nowait(conn)

    start = time.perf_counter()
    count = int(rate * seconds)
    for n in range(count):
        at = start + n / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(one(n, at))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    while not free.empty():
        free.get_nowait().close()
    return count


async def step(
    server: Server, cookie: str, targets: list[Any], streams: int, args: argparse.Namespace
) -> dict[str, Any]:
    arrivals_warm = Arrivals()
    arrivals = Arrivals()
    opened = [0]
    holder = {"now": arrivals_warm}

    class Switch(Arrivals):  # operator streams record into the current phase
        def seen(self, chunk: bytes, now: float, into: list[float], mine: set[bytes]) -> None:
            current = holder["now"]
            current.seen(chunk, now, current.operator, mine)

    switch = Switch()
    tasks = [
        asyncio.ensure_future(operator_stream(server.port, cookie, switch, opened))
        for _ in range(streams)
    ]
    for _ in range(600):
        if opened[0] >= streams or switch.errors:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    tag = f"f{streams}"
    await send_open_loop(server.port, targets, args.rate, args.warmup, tag + "0", arrivals_warm)
    holder["now"] = arrivals
    args.visitor_arrivals["now"] = arrivals
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    sent = await send_open_loop(server.port, targets, args.rate, args.seconds, tag + "1", arrivals)
    await asyncio.sleep(0.5)  # the last deliveries
    cpu1, t1 = server.cpu_seconds(), time.perf_counter()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.sleep(1.0)
    cpu = cpu1 - cpu0
    return {
        "streams": streams,
        "opened": opened[0],
        "messages": sent,
        "server_cpu_share": cpu / (t1 - t0),
        "cpu_per_message_us": cpu / sent * 1e6,
        "operator_deliveries": len(arrivals.operator),
        "operator_p50_ms": (pct(arrivals.operator, 0.5) or 0) * 1000,
        "operator_p99_ms": (pct(arrivals.operator, 0.99) or 0) * 1000,
        "visitor_deliveries": len(arrivals.visitor),
        "visitor_p50_ms": (pct(arrivals.visitor, 0.5) or 0) * 1000,
        "visitor_p99_ms": (pct(arrivals.visitor, 0.99) or 0) * 1000,
        "errors": (switch.errors + arrivals.errors)[:5],
    }


async def event_reads(port: int) -> dict[str, float]:
    conn = Conn(port)
    try:
        text = (await conn.request("GET", "/metrics")).body.decode()
    finally:
        conn.close()
    found = re.findall(r'^chatdesk_event_reads_total\{reason="(\w+)"\} ([0-9.e+]+)$', text, re.M)
    return {reason: float(value) for reason, value in found}


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    raise_nofile()
    results = []
    with tempfile.TemporaryDirectory(prefix="chatdesk-fanout-") as tmp_name:
        env = chatdesk_env(Path(tmp_name))
        env["CHATDESK_MAX_STREAMS_OPERATOR"] = "1000"
        port = free_port()
        site_key = prepare_chatdesk(env, port)
        server = Server.chatdesk(env, port)
        server.start()
        try:
            log(f"seeding {args.visitors} visitors, {args.posting} with a conversation")
            visitors = await seed_visitors(port, site_key, args.visitors, args.posting)
            operator = await login(port)
            cursor = (
                await Conn(port).request("GET", EVENTS_WIDGET, {"authorization": visitors[0].auth})
            ).json()["cursor"]
            holder: dict[str, Arrivals] = {"now": Arrivals()}
            args.visitor_arrivals = holder

            class Current(Arrivals):
                def seen(
                    self, chunk: bytes, now: float, into: list[float], mine: set[bytes]
                ) -> None:
                    holder["now"].seen(chunk, now, holder["now"].visitor, mine)

            current = Current()
            parked = []
            for n, visitor in enumerate(visitors):
                runner = visitor_long_poll if n % 2 == 0 else visitor_sse
                parked.append(asyncio.ensure_future(runner(port, visitor.auth, cursor, current)))
                if n % 100 == 99:
                    await asyncio.sleep(0.2)
            await asyncio.sleep(3.0)
            log(f"{len(parked)} visitor listeners parked; errors {current.errors[:3]}")
            targets = [
                [MESSAGES_PATH.format(v.conversation_id), v.auth] for v in visitors[: args.posting]
            ]
            for streams in args.streams:
                log(f"{streams} operator streams, {args.rate:.0f} messages/s")
                reads0 = await event_reads(port)
                found = await step(server, operator.cookie, targets, streams, args)
                reads1 = await event_reads(port)
                if reads0:
                    found["event_reads_per_message"] = {
                        k: (reads1.get(k, 0) - v) / (found["messages"] + args.rate * args.warmup)
                        for k, v in reads0.items()
                    }
                found["visitor_errors"] = current.errors[:3]
                results.append(found)
                log(json.dumps(found))
            for task in parked:
                task.cancel()
        finally:
            server.stop()
    return results


def table(results: list[dict[str, Any]]) -> str:
    base = next((r for r in results if r["streams"] == 0), None)
    lines = [
        "| operator streams | server CPU | CPU per message | CPU per operator delivery |"
        " operator delivery p50 / p99 | visitor delivery p50 / p99 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        per_delivery = "—"
        if base is not None and r["streams"]:
            extra = r["cpu_per_message_us"] - base["cpu_per_message_us"]
            per_delivery = f"{extra / r['streams']:.0f} µs"
        operator = (
            f"{r['operator_p50_ms']:.1f} / {r['operator_p99_ms']:.1f} ms" if r["streams"] else "—"
        )
        lines.append(
            f"| {r['streams']} | {r['server_cpu_share'] * 100:.0f} % |"
            f" {r['cpu_per_message_us']:.0f} µs | {per_delivery} | {operator} |"
            f" {r['visitor_p50_ms']:.1f} / {r['visitor_p99_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--streams", default="0,1,10,50,200", type=lambda t: [int(x) for x in t.split(",")]
    )
    parser.add_argument("--rate", type=float, default=150.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--visitors", type=int, default=1000, help="parked visitor listeners")
    parser.add_argument("--posting", type=int, default=256, help="visitors who post")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = uvloop.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
