"""Time from SIGTERM to exit of ``chatdesk serve`` with parked listeners, beside an idle server.

    .venv/bin/python bench/shutdown.py             # idle, 1,000 and 10,000 parked
    .venv/bin/python bench/shutdown.py --quick     # idle and 200 parked

Half of the listeners are long-polls, half SSE streams, one per visitor. Not a test:
nothing is asserted; the 5 s target is printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from pathlib import Path

import uvloop

from listeners import Listeners
from run import chatdesk_env, head_cursor, log, open_streams, prepare_chatdesk, seed_visitors
from servers import Server, free_port, raise_nofile

TARGET_SECONDS = 5.0


async def wait_parked(port: int, parked: int, limit: float = 180.0) -> None:
    """Until the server counts every listener parked (its own /metrics gauge)."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if (await open_streams(port) or 0) >= parked:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"fewer than {parked} listeners parked after {limit:.0f} s")


async def stop_with(parked: int) -> tuple[float, int, list[str]]:
    """(seconds from SIGTERM to exit, exit code, listener errors before the signal)."""
    with tempfile.TemporaryDirectory(prefix="chatdesk-shutdown-") as tmp_name:
        env = chatdesk_env(Path(tmp_name))
        port = free_port()
        site_key = prepare_chatdesk(env, port)
        server = Server.chatdesk(env, port)
        server.start()
        group = Listeners(port, wait=55)
        try:
            if parked:
                visitors = await seed_visitors(port, site_key, parked, 0)
                cursor = await head_cursor(port, visitors[0])
                for i, visitor in enumerate(visitors):
                    group.park(visitor, "lp" if i % 2 else "sse", cursor)
                await wait_parked(port, parked)
            errors = list(group.errors)
            assert server.proc is not None
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.proc.wait, 30)
            return time.perf_counter() - started, code, errors
        finally:
            await group.close()
            server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    raise_nofile()
    counts = (0, 200) if args.quick else (0, 1000, 10_000)
    rows = []
    for parked in counts:
        log(f"SIGTERM with {parked} parked listeners")
        rows.append((parked, *await stop_with(parked)))
    print(f"\n{'parked listeners':>18}  {'SIGTERM -> exit':>16}  {'exit code':>9}  target")
    for parked, seconds, code, errors in rows:
        label = f"{parked:,}" + (" (idle)" if not parked else "")
        print(f"{label:>18}  {seconds:>14.2f} s  {code:>9}  < {TARGET_SECONDS:.0f} s")
        if errors:
            print(f"{'':>18}  listener errors before the signal: {sorted(set(errors))}")


if __name__ == "__main__":
    uvloop.run(main())
