"""The webhook client alone: POSTs/s to the bench receiver, ours beside httpcore's pool.

    .venv/bin/python bench/webhook_client.py [--count 3000]

Why deliveries use a client of their own (jobs/transport.py, ADR 0012): the event
loop that sends them also serves requests, so what a POST costs it matters. Sends
``--count`` POSTs of a 600-byte body to ``bench/receiver.py`` (its own process), one
at a time and then sixteen at a time, with chatdesk's ``WebhookClient`` and with
httpcore's ``AsyncConnectionPool`` (what httpx uses; installed with the dev tools),
and prints POSTs/s and this process's CPU per POST. Prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpcore
import uvloop

from chatdesk.jobs.transport import WebhookClient
from servers import BENCH_DIR, free_port

BODY = b'{"type":"message.created","data":{"message":{"body":"' + b"x" * 540 + b'"}}}'


async def measure(post: Callable[[int], Awaitable[int]], count: int, at_once: int) -> str:
    gate = asyncio.Semaphore(at_once)

    async def one(n: int) -> None:
        async with gate:
            status = await post(n)
            assert status == 204, status

    await asyncio.gather(*(one(n) for n in range(50)))  # connections made, code warm
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(count)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return f"{count / seconds:7,.0f} POSTs/s, {cpu / count * 1e6:4,.0f} us CPU each"


async def run(port: int, count: int) -> None:
    url = f"http://127.0.0.1:{port}/hook"
    ours = WebhookClient(allow_private=True, timeout=10, max_connections=16)
    pool = httpcore.AsyncConnectionPool(max_connections=16)

    async def with_ours(n: int) -> int:
        return await ours.post(url, [(b"webhook-id", b"msg_%d" % n)], BODY)

    async def with_httpcore(n: int) -> int:
        response = await pool.request(
            "POST", url, headers=[(b"webhook-id", b"msg_%d" % n)], content=BODY
        )
        return response.status

    try:
        for at_once in (1, 16):
            for name, post in (
                ("chatdesk's client", with_ours),
                ("httpcore's pool", with_httpcore),
            ):
                print(f"{at_once:2} at once, {name:17}: {await measure(post, count, at_once)}")
    finally:
        await ours.aclose()
        await pool.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    port = free_port()
    receiver = subprocess.Popen([sys.executable, str(BENCH_DIR / "receiver.py"), str(port)])
    try:
        time.sleep(0.5)
        uvloop.run(run(port, args.count))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
