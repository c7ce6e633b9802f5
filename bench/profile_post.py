"""Profile chatdesk's visitor message POST path under load with py-spy (not installed by default).

    .venv/bin/pip install py-spy   # into the venv, for investigation only
    .venv/bin/python bench/profile_post.py [--seconds 10] [--out /tmp/post.txt]

Starts the server on a temp SQLite file, seeds visitors, runs the concurrency-64
POST load from a separate process, and samples the server with
``py-spy record --format raw --threads``. Prints the top frames by own time and
by inclusive time, for the event-loop thread and the writer thread.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from run import posting_load


def top(collapsed: Path, limit: int, possible: float) -> str:
    """Top frames per thread; ``possible`` = samples one fully busy thread would give."""
    own: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    inclusive: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    totals: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        match = re.match(r"thread \(\d+\): (.*)", stack)
        if match is None:
            continue
        count = int(count_text)
        frames = match.group(1).split(";")
        thread = "main" if frames[0].startswith("<module>") else frames[0]
        if thread != "main" and " (" in thread:
            thread = "other"
        totals[thread] += count
        own[thread][frames[-1]] += count
        for frame in set(frames[1:]):
            inclusive[thread][frame] += count
    out = []
    for thread, total in totals.most_common(4):
        out.append(f"== thread {thread}: {total} samples, busy {total / possible:.0%}")
        out.append("-- own time")
        out += [f"{n / total:6.1%}  {f}" for f, n in own[thread].most_common(limit)]
        out.append("-- inclusive")
        out += [f"{n / total:6.1%}  {f}" for f, n in inclusive[thread].most_common(limit)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--writer", choices=("process", "thread"), default="process", help="SQLite's writer"
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("/tmp/chatdesk-post-profile.txt"))
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with posting_load(args.seconds + 2, "prof", args.writer) as (server, result):
        subprocess.run(
            [
                spy,
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(int(args.seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--threads",
                "--output",
                str(args.out),
                "--nonblocking",
            ],
            check=True,
            capture_output=True,
            env={**os.environ},
            timeout=args.seconds + 60,
        )
    print(f"load during the profile: {result.get('rate', 0):,.0f} msg/s (sampling slows it)")
    print(top(args.out, args.top, args.seconds * 200))


if __name__ == "__main__":
    main()
