"""Memory per parked listener, at several counts, beside the server stack's own.

    .venv/bin/python bench/parked_memory.py                       # 10,000 and 15,000
    .venv/bin/python bench/parked_memory.py --counts 2000 --modes long-poll

For each count and kind (long-poll, SSE): a fresh chatdesk server (SQLite, writer
process), that many visitors, each with one listener parked on
``/api/v1/widget/events``; the server process's RSS before and after, divided by
the listeners it reports parked (``chatdesk_open_streams``). Beside it, the same
count of requests parked on a bare Starlette endpoint on the same stack (uvicorn,
uvloop, httptools; ``baseline_app:parked``): what the stack alone holds per parked
request. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from fanout import EVENTS_WIDGET, Arrivals, visitor_long_poll, visitor_sse
from rawhttp import Conn
from run import chatdesk_env, log, open_streams, prepare_chatdesk, seed_visitors
from servers import Server, free_port, raise_nofile

PAUSE_EVERY = 100  # listeners opened between two short pauses
PAUSE_SECONDS = 0.1


async def _rss_settled(server: Server) -> int:
    """RSS once it stops growing (the last requests of a burst are being parked)."""
    last = server.rss_kib()
    for _ in range(20):
        await asyncio.sleep(0.5)
        now = server.rss_kib()
        if now == last:
            return now
        last = now
    return last


async def _parked_settled(port: int, count: int, before: int) -> int:
    """Listeners the server reports parked, once all are or the count stopped moving."""
    last, still = -1, 0
    for _ in range(120):  # a minute at most
        now = (await open_streams(port) or 0) - before
        if now >= count or still >= 10:  # all, or 5 s without a change
            return now
        still = still + 1 if now == last else 0
        last = now
        await asyncio.sleep(0.5)
    return last


async def _long_poll(port: int, auth: str, cursor: int, arrivals: Arrivals) -> None:
    """Each poll parked for the longest wait allowed (55 s): the count stays still while
    it is measured."""
    await visitor_long_poll(port, auth, cursor, arrivals, wait=55)


async def chatdesk(count: int, mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chatdesk-parked-") as tmp:
        env = chatdesk_env(Path(tmp))
        env["CHATDESK_MAX_STREAMS_VISITOR"] = "10"
        port = free_port()
        site_key = prepare_chatdesk(env, port)
        server = Server.chatdesk(env, port)
        server.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            visitors = await seed_visitors(port, site_key, count + 16, 16)
            cursor = (
                await Conn(port).request("GET", EVENTS_WIDGET, {"authorization": visitors[0].auth})
            ).json()["cursor"]
            arrivals = Arrivals()
            runner = _long_poll if mode == "long-poll" else visitor_sse
            # A few listeners first, so what every server allocates once is not counted.
            for visitor in visitors[count:]:
                tasks.append(asyncio.ensure_future(runner(port, visitor.auth, cursor, arrivals)))
            await asyncio.sleep(2.0)
            before, gauge_before = await _rss_settled(server), await open_streams(port) or 0
            started = time.perf_counter()
            for n, visitor in enumerate(visitors[:count]):
                tasks.append(asyncio.ensure_future(runner(port, visitor.auth, cursor, arrivals)))
                if n % PAUSE_EVERY == PAUSE_EVERY - 1:
                    await asyncio.sleep(PAUSE_SECONDS)
            parked = await _parked_settled(port, count, gauge_before)
            after = await _rss_settled(server)
            return {
                "count": count,
                "mode": mode,
                "parked": parked,
                "parked_in_s": time.perf_counter() - started,
                "per_listener_kib": (after - before) / max(1, parked),
                "errors": arrivals.errors[:3],
            }
        finally:
            for task in tasks:
                task.cancel()
            server.stop()


async def _park(port: int, opened: list[int]) -> None:
    conn = Conn(port)
    try:
        await conn.open()
        conn.send("GET", "/wait", {})
        opened[0] += 1
        await asyncio.sleep(3600)
    finally:
        conn.close()


async def stack(count: int) -> dict[str, Any]:
    port = free_port()
    server = Server.baseline("parked", {}, port, factory=False)
    server.start(ready_path="/healthz")
    opened = [0]
    tasks: list[asyncio.Task[None]] = []
    try:
        before = await _rss_settled(server)
        for n in range(count):
            tasks.append(asyncio.ensure_future(_park(port, opened)))
            if n % PAUSE_EVERY == PAUSE_EVERY - 1:
                await asyncio.sleep(PAUSE_SECONDS)
        after = await _rss_settled(server)
        return {
            "count": count,
            "mode": "stack",
            "parked": opened[0],
            "per_listener_kib": (after - before) / max(1, opened[0]),
        }
    finally:
        for task in tasks:
            task.cancel()
        server.stop()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    raise_nofile()
    results = []
    for count in args.counts:
        for mode in args.modes:
            log(f"{count} parked, {mode}")
            found = await (stack(count) if mode == "stack" else chatdesk(count, mode))
            log(json.dumps(found))
            results.append(found)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--counts", default="10000,15000", type=lambda t: [int(x) for x in t.split(",")]
    )
    parser.add_argument(
        "--modes",
        default="long-poll,sse,stack",
        type=lambda t: t.split(","),
        help="long-poll, sse, stack (the bare stack's own)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = uvloop.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("| parked | kind | per listener (RSS) |")
    print("|---|---|---|")
    for r in results:
        print(
            f"| {r['parked']:,} of {r['count']:,} | {r['mode']} | {r['per_listener_kib']:.1f} KiB |"
        )


if __name__ == "__main__":
    main()
