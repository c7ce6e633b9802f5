"""Closed-loop POST load at a fixed concurrency, run as its own process.

Reads a JSON config on stdin, prints one JSON result on stdout:

    {"port", "concurrency", "warmup", "duration", "client": "raw"|"httpx",
     "targets": [[path, authorization-or-null], ...], "tag"}

Each worker owns one keep-alive connection and cycles over its share of the
targets, sending ``{"body", "client_msg_id"}`` with a fresh client_msg_id every
time. Only requests that start after the warm-up and finish inside the window
count. The process's own CPU time over the window is reported, so the reader
can see how much of the 2 cores the client took.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import httpx
import uvloop

from rawhttp import Conn

MAX_REQUESTS_PER_WORKER = 5_000_000


def _body(tag: str, worker: int, seq: int) -> bytes:
    return (
        f'{{"body":"bench message {seq} from worker {worker}",'
        f'"client_msg_id":"{tag}-{worker}-{seq}"}}'
    ).encode()


class Window:
    def __init__(self, warmup: float, duration: float) -> None:
        now = time.perf_counter()
        self.start = now + warmup
        self.end = self.start + duration
        self.latencies: list[float] = []
        self.errors = 0
        self.statuses: dict[int, int] = {}

    def record(self, started: float, finished: float, status: int) -> None:
        if status >= 300:
            self.errors += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
        elif started >= self.start and finished <= self.end:
            self.latencies.append(finished - started)


async def _raw_worker(cfg: dict[str, Any], worker: int, targets: list[Any], win: Window) -> None:
    conn = Conn(cfg["port"])
    tag = cfg["tag"]
    try:
        for seq in range(MAX_REQUESTS_PER_WORKER):
            path, auth = targets[seq % len(targets)]
            headers = {"content-type": "application/json"}
            if auth:
                headers["authorization"] = auth
            started = time.perf_counter()
            if started >= win.end:
                break
            try:
                response = await conn.request("POST", path, headers, _body(tag, worker, seq))
            except (OSError, asyncio.IncompleteReadError):
                win.record(started, time.perf_counter(), 599)  # transport error: reconnect
                conn.close()
                continue
            win.record(started, time.perf_counter(), response.status)
    finally:
        conn.close()


async def _httpx_worker(
    cfg: dict[str, Any], client: Any, worker: int, targets: list[Any], win: Window
) -> None:
    tag = cfg["tag"]
    for seq in range(MAX_REQUESTS_PER_WORKER):
        path, auth = targets[seq % len(targets)]
        headers = {"content-type": "application/json"}
        if auth:
            headers["authorization"] = auth
        started = time.perf_counter()
        if started >= win.end:
            break
        try:
            response = await client.post(path, headers=headers, content=_body(tag, worker, seq))
        except httpx.TransportError:  # e.g. a keep-alive connection the server closed
            win.record(started, time.perf_counter(), 599)
            continue
        win.record(started, time.perf_counter(), response.status_code)


async def _cpu_at(moment: float) -> float:
    await asyncio.sleep(max(0.0, moment - time.perf_counter()))
    t = os.times()
    return t.user + t.system


async def main(cfg: dict[str, Any]) -> dict[str, Any]:
    concurrency = int(cfg["concurrency"])
    targets = cfg["targets"]
    shares = [targets[i::concurrency] or targets for i in range(concurrency)]
    win = Window(float(cfg["warmup"]), float(cfg["duration"]))
    cpu_start = asyncio.ensure_future(_cpu_at(win.start))
    cpu_end = asyncio.ensure_future(_cpu_at(win.end))
    if cfg.get("client") == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{cfg['port']}", limits=limits, timeout=30
        ) as client:
            await asyncio.gather(
                *(_httpx_worker(cfg, client, i, shares[i], win) for i in range(concurrency))
            )
    else:
        await asyncio.gather(*(_raw_worker(cfg, i, shares[i], win) for i in range(concurrency)))
    used = await cpu_end - await cpu_start
    lat = sorted(win.latencies)
    return {
        "count": len(lat),
        "duration": float(cfg["duration"]),
        "rate": len(lat) / float(cfg["duration"]),
        "p50_ms": lat[len(lat) // 2] * 1000 if lat else None,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else None,
        "errors": win.errors,
        "statuses": win.statuses,
        "client_cpu_s": used,
    }


if __name__ == "__main__":
    config = json.load(sys.stdin)
    result = uvloop.run(main(config))
    json.dump(result, sys.stdout)
