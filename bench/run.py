"""chatdesk benchmark: one run, real server subprocesses on loopback, figures beside baselines.

    .venv/bin/python bench/run.py              # the full run (about 6 minutes)
    .venv/bin/python bench/run.py --quick      # a smoke run with small counts
    .venv/bin/python bench/run.py --only a,b   # a subset of base,a,b,c

See docs/performance.md for what each figure means and the last measured table.

Prints (a) visitor message POST throughput at concurrency 64, (b) delivery
latency from an operator reply to parked long-polls and SSE streams, (c) server
RSS per parked listener, and the same-run baselines: a bare Starlette endpoint
and a bare endpoint doing one stdlib-sqlite3 insert + commit. Not a test:
nothing is asserted; the targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import uvloop

from listeners import Listeners, Operator, Visitor
from rawhttp import Conn
from servers import BENCH_DIR, Server, free_port, raise_nofile

MESSAGES_PATH = "/api/v1/widget/conversations/{}/messages"
OPERATOR_EMAIL = "bench@example.com"
OPERATOR_PASSWORD = "bench-password-not-secret"


@dataclass(frozen=True)
class Plan:
    concurrency: int
    warmup: float
    duration: float
    load_visitors: int  # visitors (each with its own conversation) the POST load cycles over
    listeners_b: int  # parked for (b), half long-poll, half SSE
    probes_b: int  # replies per listener kind in (b)
    parked_c: int  # parked for (c), per kind
    probes_c: int


FULL = Plan(64, 2.0, 10.0, 256, 1000, 200, 10_000, 50)
QUICK = Plan(64, 1.0, 3.0, 64, 200, 40, 1000, 10)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- load ----------------------------------------------------------------------------


def run_load(
    server: Server, plan: Plan, targets: list[list[Any]], tag: str, client: str = "raw"
) -> dict[str, Any]:
    """POST load from a separate process; adds the server's CPU use over the window."""
    config = {
        "port": server.port,
        "concurrency": plan.concurrency,
        "warmup": plan.warmup,
        "duration": plan.duration,
        "targets": targets,
        "tag": tag,
        "client": client,
    }
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "loadgen.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=str(BENCH_DIR),
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    time.sleep(plan.warmup + 0.2)  # the generator's own start-up takes ~0.2 s
    cpu0, all0 = server.cpu_seconds(), machine_busy_seconds()
    time.sleep(plan.duration)
    cpu1, all1 = server.cpu_seconds(), machine_busy_seconds()
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(timeout=plan.warmup + plan.duration + 120)
    if proc.returncode != 0 or not out:
        log(f"load generator ({client}) failed with exit code {proc.returncode}")
        nothing = {"rate": 0.0, "p50_ms": None, "p99_ms": None, "client_cpu_s": 0.0}
        out = json.dumps({**nothing, "count": 0, "errors": -1, "statuses": {"failed": 1}})
    result: dict[str, Any] = json.loads(out)
    result["server_cpu"] = (cpu1 - cpu0) / plan.duration
    result["client_cpu"] = result["client_cpu_s"] / plan.duration
    # Whatever else ran on the machine meanwhile (it shares the 2 cores with the run).
    others = (all1 - all0) - (cpu1 - cpu0) - result["client_cpu_s"]
    result["other_cpu"] = max(0.0, others / plan.duration)
    return result


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def baselines(plan: Plan, env: dict[str, str], tmp: Path) -> dict[str, dict[str, Any]]:
    found = {}
    env = {**env, "BENCH_SQLITE_PATH": str(tmp / "baseline.db")}
    for name, factory in (("bare", False), ("sqlite_app", True)):
        server = Server.baseline(name, env, free_port(), factory=factory)
        server.start()
        try:
            log(f"baseline {name}: load for {plan.duration:.0f} s")
            found[name] = run_load(server, plan, [["/messages", None]], f"b{name}")
        finally:
            server.stop()
    return found


# -- seeding through the real CLI and HTTP API -----------------------------------------


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "chatdesk"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


async def pooled(port: int, jobs: list[tuple[str, str, dict[str, str], bytes]]) -> list[Any]:
    """Run requests over 64 keep-alive connections; the JSON bodies in order."""
    results: list[Any] = [None] * len(jobs)
    queue = list(enumerate(jobs))
    queue.reverse()

    async def worker() -> None:
        conn = Conn(port)
        try:
            while queue:
                index, (method, path, headers, body) = queue.pop()
                response = await conn.request(method, path, headers, body)
                if response.status >= 300:
                    raise RuntimeError(f"{method} {path}: {response.status} {response.body!r}")
                results[index] = response.json()
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(64)))
    return results


async def seed_visitors(
    port: int, site_key: str, count: int, with_conversation: int
) -> list[Visitor]:
    body = json.dumps({"site_key": site_key}).encode()
    headers = {"content-type": "application/json"}
    jobs = [("POST", "/api/v1/widget/sessions", headers, body)] * count
    sessions = await pooled(port, jobs)
    visitors = [Visitor(s["visitor_token"]) for s in sessions]
    conv_jobs = [
        (
            "POST",
            "/api/v1/widget/conversations",
            {"content-type": "application/json", "authorization": v.auth},
            json.dumps(
                {"body": "Hello, I have a question.", "client_msg_id": f"first-{i}"}
            ).encode(),
        )
        for i, v in enumerate(visitors[:with_conversation])
    ]
    for visitor, created in zip(visitors, await pooled(port, conv_jobs), strict=False):
        visitor.conversation_id = created["conversation"]["id"]
    return visitors


async def login(port: int) -> Operator:
    conn = Conn(port)
    try:
        body = json.dumps({"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD}).encode()
        response = await conn.request(
            "POST", "/api/v1/auth/login", {"content-type": "application/json"}, body
        )
        if response.status != 200:
            raise RuntimeError(f"login failed: {response.status} {response.body!r}")
        return Operator(response.cookies["chatdesk_session"], response.json()["csrf_token"])
    finally:
        conn.close()


async def head_cursor(port: int, visitor: Visitor) -> int:
    conn = Conn(port)
    try:
        response = await conn.request(
            "GET", "/api/v1/widget/events", {"authorization": visitor.auth}
        )
        return int(response.json()["cursor"])
    finally:
        conn.close()


# -- (b) and (c) -------------------------------------------------------------------------


async def open_streams(port: int) -> int | None:
    """The server's own count of parked long-polls and SSE streams (/metrics), if it has one."""
    conn = Conn(port)
    try:
        response = await asyncio.wait_for(conn.request("GET", "/metrics"), 30)
        for line in response.body.decode(errors="replace").splitlines():
            if line.startswith("chatdesk_open_streams "):
                return int(float(line.split()[1]))
    except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
        return None
    finally:
        conn.close()
    return None


async def wait_parked(
    server: Server, group: Listeners, total: int, modes: set[str], limit: float = 60.0
) -> float:
    """Seconds until every request is sent (and every SSE head is in) and the server is idle."""
    started = time.perf_counter()
    deadline = started + limit
    while time.perf_counter() < deadline:
        target_met = group.sent >= total and ("sse" not in modes or group.streaming >= total)
        if target_met or group.errors:
            break
        await asyncio.sleep(0.05)
    parked_at = time.perf_counter() - started
    # A long-poll has no response while parked: wait until the server stops working.
    for _ in range(int(limit / 0.5)):
        cpu = server.cpu_seconds()
        await asyncio.sleep(0.5)
        if server.cpu_seconds() - cpu < 0.02:
            break
    return parked_at


async def probe_rounds(
    group: Listeners,
    operator: Operator,
    targets: list[tuple[str, Visitor]],
    rounds: int,
    tag: str,
    gap: float = 0.01,
    budget: float = 60.0,
) -> dict[str, dict[str, list[float]]]:
    """``rounds`` replies to each kind of listener, interleaved, one at a time.

    Stops early once ``budget`` seconds have passed (an overloaded server must not
    stretch the run); the undelivered and unsent count as "missed".
    """
    deadline = time.perf_counter() + budget
    conn = Conn(group.port)
    found: dict[str, dict[str, list[float]]] = {}
    by_mode: dict[str, list[Visitor]] = {}
    for mode, visitor in targets:
        by_mode.setdefault(mode, []).append(visitor)
    try:
        for index in range(rounds):
            for mode, visitors in by_mode.items():
                slot = found.setdefault(mode, {"delivery": [], "post": [], "missed": []})
                if time.perf_counter() > deadline:
                    slot["missed"].append(1.0)
                    continue
                visitor = visitors[index % len(visitors)]
                remaining = max(1.0, min(10.0, deadline - time.perf_counter()))
                got = await group.probe(
                    operator, conn, visitor, f"{tag}-{mode}-{index}", timeout=remaining
                )
                if got is None:
                    slot["missed"].append(1.0)
                else:
                    slot["delivery"].append(got[0])
                    slot["post"].append(got[1])
                await asyncio.sleep(gap)
    finally:
        conn.close()
    return found


def summarise(samples: dict[str, list[float]]) -> dict[str, Any]:
    delivery = samples.get("delivery", [])
    post = samples.get("post", [])
    return {
        "n": len(delivery),
        "p50_ms": (pct(delivery, 0.5) or 0) * 1000,
        "p99_ms": (pct(delivery, 0.99) or 0) * 1000,
        "max_ms": max(delivery, default=0) * 1000,
        "reply_post_p50_ms": (pct(post, 0.5) or 0) * 1000,
        "missed": len(samples.get("missed", [])),
    }


async def delivery_b(
    server: Server, plan: Plan, visitors: list[Visitor], operator: Operator, load_targets: Any
) -> dict[str, Any]:
    """(b): half long-poll, half SSE parked; replies timed idle and under the POST load."""
    group = Listeners(server.port, wait=25)
    cursor = await head_cursor(server.port, visitors[0])
    half = plan.listeners_b // 2
    modes = [("lp", v) for v in visitors[:half]] + [("sse", v) for v in visitors[half:]]
    for mode, visitor in modes:
        group.park(visitor, mode, cursor)
    for _ in range(1200):  # at most 60 s
        if group.errors or (
            group.sent >= len(modes) and group.streaming >= plan.listeners_b - half
        ):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    result: dict[str, Any] = {"parked": len(modes), "errors": group.errors}
    try:
        log(f"(b) {len(modes)} parked; {plan.probes_b} replies to each kind, idle server")
        idle = await probe_rounds(group, operator, modes, plan.probes_b, "idle")
        result["idle"] = {mode: summarise(s) for mode, s in idle.items()}
        log("(b) the same while the message POST load runs")
        loop = asyncio.get_running_loop()
        load = loop.run_in_executor(None, run_load, server, plan, load_targets, "bl")
        await asyncio.sleep(plan.warmup + 0.5)
        busy_rounds = max(10, plan.probes_b // 4)
        busy = await probe_rounds(group, operator, modes, busy_rounds, "busy", gap=0.05)
        load_result = await load
        result["loaded"] = {mode: summarise(s) for mode, s in busy.items()}
        result["loaded_load"] = load_result
    finally:
        await group.close()
    return result


async def parked_c(
    make_server: Any, plan: Plan, visitors: list[Visitor], operator: Operator, mode: str
) -> dict[str, Any]:
    """(c): a fresh server, warmed up, then ``parked_c`` listeners of one kind; RSS before/after."""
    server: Server = make_server()
    server.start()
    group = Listeners(server.port, wait=55)
    try:
        cursor = await head_cursor(server.port, visitors[0])
        warm = Listeners(server.port, wait=55)
        warm_targets = [(mode, v) for v in visitors[:8] if v.conversation_id]
        for _, visitor in warm_targets:
            warm.park(visitor, mode, cursor)
        await asyncio.sleep(0.5)
        await probe_rounds(warm, operator, warm_targets, 3, f"warm{mode}")
        await warm.close()
        cursor = await head_cursor(server.port, visitors[0])
        await asyncio.sleep(1.0)
        rss_before = server.rss_kib()
        # Long-polls whose client left stay parked until their wait ends: count them out.
        gauge_before = await open_streams(server.port)
        started = time.perf_counter()
        for visitor in visitors[: plan.parked_c]:
            group.park(visitor, mode, cursor)
        parked_in = await wait_parked(server, group, plan.parked_c, {mode})
        settled = time.perf_counter() - started
        rss_after = server.rss_kib()
        gauge = await open_streams(server.port)
        with_conv = [(mode, v) for v in visitors[: plan.parked_c] if v.conversation_id]
        probes = await probe_rounds(
            group, operator, with_conv, plan.probes_c, f"c{mode}", budget=30.0
        )
        health = Conn(server.port)
        t0 = time.perf_counter()
        try:
            ok = (await asyncio.wait_for(health.request("GET", "/healthz"), 30)).status == 200
        except (TimeoutError, OSError):
            ok = False
        health_ms = (time.perf_counter() - t0) * 1000
        health.close()
        return {
            "mode": mode,
            "parked": plan.parked_c,
            "sent_in_s": parked_in,
            "settled_in_s": settled,
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            # Divide by what the server itself counts as parked when it says (/metrics).
            "per_listener_kib": (rss_after - rss_before)
            / max(1, (gauge - (gauge_before or 0)) if gauge else plan.parked_c),
            "threads": server.threads(),
            "open_streams_gauge": gauge,
            "open_streams_before": gauge_before,
            "errors": group.errors[:5],
            "error_count": len(group.errors),
            "probe": summarise(probes.get(mode, {})),
            "healthz_ok": ok,
            "healthz_ms": health_ms,
        }
    finally:
        await group.close()
        server.stop()


# -- the run -----------------------------------------------------------------------------


@contextlib.contextmanager
def posting_load(
    seconds: float, tag: str, writer: str = "process"
) -> Iterator[tuple[Server, dict[str, Any]]]:
    """A fresh chatdesk server under the (a) POST load for about ``seconds`` (after the
    warm-up), the load running in a thread; yields (server, the load's result dict,
    filled in once the load ends) and waits for the load before stopping the server."""
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix=f"chatdesk-{tag}-") as tmp_name:
        env = chatdesk_env(Path(tmp_name), writer)
        port = free_port()
        site_key = prepare_chatdesk(env, port)
        server = Server.chatdesk(env, port)
        server.start()
        try:
            visitors = uvloop.run(seed_visitors(port, site_key, 256, 256))
            targets = [[MESSAGES_PATH.format(v.conversation_id), v.auth] for v in visitors]
            plan = Plan(**{**FULL.__dict__, "duration": seconds})
            result: dict[str, Any] = {}
            load = threading.Thread(
                target=lambda: result.update(run_load(server, plan, targets, tag))
            )
            load.start()
            yield server, result
            load.join(timeout=seconds + 120)
        finally:
            server.stop()


def chatdesk_env(tmp: Path, writer: str = "process") -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHATDESK_")},
        "CHATDESK_DATABASE_URL": f"sqlite:///{tmp / 'chatdesk.db'}",
        "CHATDESK_RATE_LIMITS": "off",
        "CHATDESK_LOG_LEVEL": "warning",
        "CHATDESK_ENV": "development",
        "CHATDESK_SQLITE_WRITER": writer,
        "BENCH_LOG_DIR": str(tmp),
    }


def prepare_chatdesk(env: dict[str, str], port: int) -> str:
    """Migrate, add an owner and a site through the real CLI; returns the site key."""
    cli(env, "migrate")
    cli(
        env,
        "create-operator",
        "--email",
        OPERATOR_EMAIL,
        "--name",
        "Bench Operator",
        "--role",
        "owner",
        "--password-stdin",
        stdin=OPERATOR_PASSWORD + "\n",
    )
    site_out = cli(env, "create-site", "--name", "Bench", "--origin", f"http://127.0.0.1:{port}")
    return next(
        line.split(":", 1)[1].strip() for line in site_out.splitlines() if "Site key" in line
    )


async def chatdesk_runs(
    plan: Plan, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    port = free_port()
    site_key = prepare_chatdesk(env, port)
    server = Server.chatdesk(env, port)
    server.start()
    try:
        total = plan.listeners_b + plan.load_visitors
        if "c" in args.only:
            total = max(plan.parked_c, total)
        with_conversation = plan.listeners_b + plan.load_visitors
        log(f"seeding {total} visitor sessions, {with_conversation} conversations over HTTP")
        t0 = time.perf_counter()
        visitors = await seed_visitors(port, site_key, total, with_conversation)
        out["seed_s"] = time.perf_counter() - t0
        operator = await login(port)
        load_visitors = visitors[plan.listeners_b : plan.listeners_b + plan.load_visitors]
        targets = [[MESSAGES_PATH.format(v.conversation_id), v.auth] for v in load_visitors]
        loop = asyncio.get_running_loop()
        if "a" in args.only:
            log(f"(a) chatdesk message POST, concurrency {plan.concurrency}, raw client")
            out["a_raw"] = await loop.run_in_executor(None, run_load, server, plan, targets, "a")
        if "a" in args.only and not args.skip_httpx:
            log("(a) again with an httpx.AsyncClient load generator")
            out["a_httpx"] = await loop.run_in_executor(
                None, run_load, server, plan, targets, "ah", "httpx"
            )
        if "b" in args.only:
            b_visitors = visitors[: plan.listeners_b]
            out["b"] = await delivery_b(server, plan, b_visitors, operator, targets)
        out["rss_after_ab_kib"] = server.rss_kib()
    finally:
        server.stop()

    def make_server() -> Server:
        return Server.chatdesk(env, free_port())

    for mode in ("lp", "sse") if "c" in args.only else ():
        log(f"(c) {plan.parked_c} parked {mode} listeners on a fresh server")
        out[f"c_{mode}"] = await parked_c(make_server, plan, visitors, operator, mode)
    return out


def versions() -> dict[str, str]:
    names = ["uvicorn", "uvloop", "httptools", "fastapi", "starlette", "sqlalchemy", "httpx"]
    found = {name: metadata.version(name) for name in names}
    found["python"] = platform.python_version()
    import sqlite3

    found["sqlite"] = sqlite3.sqlite_version
    return found


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores ({model}), {mem_kib / 2**20:.0f} GiB, Linux {platform.release()}"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def table(results: dict[str, Any], plan: Plan) -> str:
    rows: list[tuple[str, str, str]] = []

    def load_row(label: str, r: dict[str, Any], target: str = "") -> None:
        figure = (
            f"{r['rate']:,.0f} req/s; p50 {_ms(r['p50_ms'])}, p99 {_ms(r['p99_ms'])}; "
            f"server CPU {r['server_cpu'] / max(r['rate'], 1) * 1e6:,.0f} us/req; "
            f"CPU: server {r['server_cpu'] * 100:.0f}%, client {r['client_cpu'] * 100:.0f}%,"
            f" other processes {r.get('other_cpu', 0) * 100:.0f}%"
            + (f"; {r['errors']} errors {r['statuses']}" if r["errors"] else "")
        )
        rows.append((label, figure, target))

    c = plan.concurrency
    base = results.get("baselines", {})
    if base:
        load_row(f"baseline: bare Starlette POST -> 200 (c={c})", base["bare"])
        load_row(f"baseline: bare POST + 1 sqlite3 insert+commit (c={c})", base["sqlite_app"])
    cd = results["chatdesk"]
    if "a_raw" in cd:
        load_row(f"(a) visitor message POST (c={c}, raw client)", cd["a_raw"], ">= 2,500 msg/s")
    if "a_httpx" in cd:
        load_row(f"(a) visitor message POST (c={c}, httpx client)", cd["a_httpx"], "")
    if "a_thread" in cd:
        load_row(f"(a) same, SQLite writer thread (c={c}, raw client)", cd["a_thread"], "")
    b = cd.get("b", {"idle": {}, "loaded": {}})
    for phase, label in (("idle", "idle server"), ("loaded", f"under (a) load c={c}")):
        for mode, name in (("lp", "long-poll"), ("sse", "SSE")):
            s = b[phase].get(mode)
            if s:
                rows.append(
                    (
                        f"(b) reply -> parked {name}, {b['parked']} parked, {label}",
                        f"p50 {_ms(s['p50_ms'])}, p99 {_ms(s['p99_ms'])}, max {_ms(s['max_ms'])}"
                        f" (n={s['n']}, missed {s.get('missed', 0)};"
                        f" reply POST p50 {_ms(s['reply_post_p50_ms'])})",
                        "p99 <= 50 ms" if phase == "idle" else "",
                    )
                )
    if "loaded_load" in b:
        load_row("    message POST load during that", b["loaded_load"])
    for mode, name in (("lp", "long-poll"), ("sse", "SSE")):
        if f"c_{mode}" not in cd:
            continue
        r = cd[f"c_{mode}"]
        rows.append(
            (
                f"(c) RSS per parked {name}, {r['parked']:,} parked",
                f"{r['per_listener_kib']:.1f} KiB ({r['rss_before_kib'] / 1024:.0f} -> "
                f"{r['rss_after_kib'] / 1024:.0f} MiB; parked in {r['settled_in_s']:.1f} s;"
                f" server gauge {r.get('open_streams_before')} -> {r.get('open_streams_gauge')};"
                f" {r['error_count']} errors)",
                "<= 32 KB",
            )
        )
        p = r["probe"]
        rows.append(
            (
                f"    reply -> {name} with {r['parked']:,} parked",
                f"p50 {_ms(p['p50_ms'])}, p99 {_ms(p['p99_ms'])} (n={p['n']},"
                f" missed {p.get('missed', 0)});"
                f" /healthz {r['healthz_ms']:.1f} ms",
                "10,000 in one process",
            )
        )
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    header = ("measurement", "figure", "target")
    lines = [
        " | ".join(h.ljust(w) for h, w in zip(header, width, strict=True)),
        "-+-".join("-" * w for w in width),
    ]
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, width, strict=True)) for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run, small counts")
    parser.add_argument("--skip-httpx", action="store_true", help="skip the httpx client run")
    parser.add_argument(
        "--skip-thread", action="store_true", help="skip (a) on SQLite's writer thread"
    )
    parser.add_argument(
        "--only",
        default="base,a,b,c",
        type=lambda text: set(text.split(",")),
        help="comma-separated subset of base,a,b,c (default: all)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    nofile = raise_nofile()
    if nofile < plan.parked_c + 1000:
        log(f"open-files limit {nofile} is below {plan.parked_c + 1000}; (c) may fail")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chatdesk-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = chatdesk_env(tmp)
        results: dict[str, Any] = {"machine": machine(), "versions": versions()}
        if "base" in args.only:
            results["baselines"] = baselines(plan, env, tmp)
        try:
            results["chatdesk"] = uvloop.run(chatdesk_runs(plan, env, args))
            if "a" in args.only and not args.skip_thread:
                # The same load on SQLite's writer thread (ADR 0006), in this same run.
                (tmp / "thread").mkdir()
                thread_env = chatdesk_env(tmp / "thread", writer="thread")
                only_a = argparse.Namespace(**{**vars(args), "only": {"a"}, "skip_httpx": True})
                log("(a) again with CHATDESK_SQLITE_WRITER=thread, on a fresh server")
                thread_run = uvloop.run(chatdesk_runs(plan, thread_env, only_a))
                results["chatdesk"]["a_thread"] = thread_run["a_raw"]
        except Exception:
            for log_file in tmp.glob("*.log"):
                print(f"--- {log_file.name}\n{log_file.read_text()[-3000:]}", file=sys.stderr)
            raise
    results["elapsed_s"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print()
    print(f"chatdesk bench ({'quick' if args.quick else 'full'}), {results['machine']}")
    print(", ".join(f"{k} {v}" for k, v in results["versions"].items()))
    print(table(results, plan))
    print(f"(run took {results['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
