"""Per-thread CPU of the chatdesk server under the (a) message POST load.

    .venv/bin/python bench/thread_cpu.py [--seconds 10] [--writer process|thread]

Starts the server on a temp SQLite file, seeds visitors, runs the concurrency-64
POST load from a separate process, and reads the CPU time of each thread of the
server and of its descendant processes (SQLite's writer process) from
/proc/PID/task/*/stat around a window of the load. Prints, per thread, the
share of one core it used and its CPU microseconds per message: threads of one
process share one GIL and can only overlap in C code that releases it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from run import FULL, posting_load
from servers import descendants

TICK = os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) per thread: "main" (the event loop) and "tid N".

    Python does not name its threads for the OS; the busiest other thread under
    this load is the database writer."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = "main" if task.name == str(pid) else f"tid {task.name}"
        fields = stat[stat.rindex(")") + 2 :].split()
        out[name] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def process_times(pid: int) -> dict[str, float]:
    """Per-thread CPU of the server, plus each of its child processes' threads."""
    out = thread_times(pid)
    for child in descendants(pid):
        for name, used in thread_times(child).items():
            label = f"pid {child}" if name == "main" else f"pid {child} {name}"
            out[label] = used
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--writer", choices=("process", "thread"), default="process", help="SQLite's writer"
    )
    args = parser.parse_args()
    with posting_load(args.seconds + 4, "threads", args.writer) as (server, result):
        time.sleep(FULL.warmup + 1)
        before, started = process_times(server.pid), time.perf_counter()
        time.sleep(args.seconds)
        after, wall = process_times(server.pid), time.perf_counter() - started
    rate = float(result.get("rate", 0) or 0)
    print(f"load: {rate:,.0f} msg/s over the whole run")
    total = 0.0
    for name in sorted(after, key=lambda n: after[n] - before.get(n, 0.0), reverse=True):
        used = after[name] - before.get(name, 0.0)
        total += used
        if used > 0:
            per_msg = used / (rate * wall) * 1e6 if rate else 0
            print(f"{name:>16}: {used / wall:6.1%} of a core, {per_msg:6.0f} us/msg")
    print(f"{'all threads':>16}: {total / wall:6.1%} of a core")


if __name__ == "__main__":
    main()
