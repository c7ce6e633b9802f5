"""Idle memory of ``chatdesk serve`` on SQLite: the whole process tree, beside baselines.

    .venv/bin/python bench/idle_memory.py             # after a little real use
    .venv/bin/python bench/idle_memory.py --no-use    # straight after /readyz
    .venv/bin/python bench/idle_memory.py --writer thread

Starts, one at a time and each alone: a bare ``python -c`` interpreter, a bare
uvicorn (uvloop, httptools) serving the trivial Starlette app of
``bench/baseline_app.py``, and ``chatdesk serve`` on a fresh SQLite file in a
temporary directory on a free loopback port. chatdesk is used a little first
(the first owner signs in, creates a site, a visitor starts a conversation and
posts, the operator replies, the console and widget pages are rendered, the
events endpoints and /metrics are read), so what is imported on first use is
loaded as after real use; then the tree is left idle for ``--settle`` seconds.

For every process of each tree (the server and all its descendants: on SQLite
the writer process and what starts it) it prints PSS and RSS from
``/proc/PID/smaps_rollup``, and their sums. PSS divides each shared page among
the processes that map it, so the tree's PSS is what the tree costs the
machine; it drops a little when other Python processes of the same build run
at the same time (they share the interpreter's pages), and RSS counts shared
pages in full in every process. Not a test: nothing is asserted; the target is
printed beside the figure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import Server, descendants, free_port

TARGET_PSS_MIB = 100


@dataclass(frozen=True)
class Sample:
    pid: int
    name: str
    pss_kib: int
    rss_kib: int


def smaps_rollup(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Pss:", "Rss:"):
            found[parts[0]] = int(parts[1])
    return found["Pss:"], found["Rss:"]


def describe(pid: int, depth: int, width: int = 60) -> str:
    """The command line, shortened, indented by the process's depth below the server."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    words = [Path(argv[0].decode()).name, *(a.decode(errors="replace") for a in argv[1:])]
    line = "  " * depth + " ".join(words)
    return line if len(line) <= width else line[: width - 1] + "…"


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def measure_tree(root: int) -> list[Sample]:
    samples: list[Sample] = []
    depth = {root: 0}
    for pid in (root, *descendants(root)):
        try:
            if pid != root:
                depth[pid] = depth.get(parent(pid), 0) + 1
            pss, rss = smaps_rollup(pid)
            samples.append(Sample(pid, describe(pid, depth[pid]), pss, rss))
        except OSError:
            continue  # ended between the listing and the read
    return samples


def show(title: str, samples: list[Sample], target: int | None = None) -> tuple[float, float]:
    mib = 1024
    print(f"\n{title}")
    for s in samples:
        print(f"  {s.pid:>8}  {s.name:<60}  PSS {s.pss_kib / mib:6.1f}  RSS {s.rss_kib / mib:6.1f}")
    pss = sum(s.pss_kib for s in samples) / mib
    rss = sum(s.rss_kib for s in samples) / mib
    note = f"   (target: PSS <= {target} MiB)" if target is not None else ""
    print(f"  {'total':>8}  {len(samples)} processes{'':<48}  PSS {pss:6.1f}  RSS {rss:6.1f}{note}")
    return pss, rss


# -- the baselines ------------------------------------------------------------------------


def bare_python(settle: float) -> list[Sample]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        time.sleep(settle)
        return measure_tree(proc.pid)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def bare_uvicorn(env: dict[str, str], settle: float) -> list[Sample]:
    server = Server.baseline("bare", env, free_port(), factory=False)
    server.start()
    try:
        request(server.port, "POST", "/messages", {"body": "hello"})
        time.sleep(settle)
        return measure_tree(server.pid)
    finally:
        server.stop()


# -- chatdesk -------------------------------------------------------------------------------


class Client:
    """A tiny loopback HTTP client that keeps the operator's session cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.headers: dict[str, str] = {}

    def __call__(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        sent = {**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}}
        status, reply, cookies = _send(self.port, method, path, body, sent)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {reply[:200]!r}")
        if "chatdesk_session" in cookies:
            self.headers["cookie"] = f"chatdesk_session={cookies['chatdesk_session']}"
        return json.loads(reply) if reply.startswith(b"{") else reply


def _send(
    port: int, method: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            headers = {**headers, "content-type": "application/json"}
        conn.request(method, path, payload, headers)
        response = conn.getresponse()
        cookies = {}
        for value in response.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response.read(), cookies
    finally:
        conn.close()


def request(port: int, method: str, path: str, body: Any = None) -> bytes:
    return _send(port, method, path, body, {})[1]


def first_owner(log_path: Path) -> tuple[str, str]:
    """The first owner's credentials from ``chatdesk serve`` on a fresh database: its output
    names the private file it wrote them to (standard output is not a terminal here)."""
    text = log_path.read_text()
    written = re.search(r"password:\s+in (\S+) \(readable", text)
    if written is not None:
        text = Path(written.group(1)).read_text()
    email = re.search(r"email:\s+(\S+)", text)
    password = re.search(r"password:\s+(\S+)", text)
    if email is None or password is None:
        raise RuntimeError(f"no first-owner credentials in {log_path}")
    return email.group(1), password.group(1)


def use(server: Server) -> None:
    """What a first session does: sign in, a site, a visitor's conversation, a reply, pages."""
    port = server.port
    operator = Client(port)
    email, password = first_owner(server.log_path)
    csrf = operator("POST", "/api/v1/auth/login", {"email": email, "password": password})
    operator.headers["x-csrf-token"] = csrf["csrf_token"]
    origin = f"http://127.0.0.1:{port}"
    site = operator("POST", "/api/v1/sites", {"name": "Shop", "allowed_origins": [origin]})
    visitor = Client(port)
    visitor("GET", f"/api/v1/widget/config?site_key={site['site_key']}")
    session = visitor("POST", "/api/v1/widget/sessions", {"site_key": site["site_key"]})
    visitor.headers["authorization"] = f"Bearer {session['visitor_token']}"
    first = visitor("POST", "/api/v1/widget/conversations", {"body": "Hi", "client_msg_id": "m1"})
    conversation_id = first["conversation"]["id"]
    path = f"/api/v1/widget/conversations/{conversation_id}/messages"
    visitor("POST", path, {"body": "Is anyone there?", "client_msg_id": "m2"})
    operator("GET", "/api/v1/conversations")
    operator("GET", f"/api/v1/conversations/{conversation_id}/messages")
    reply = {"body": "Yes, how can I help?", "client_msg_id": "r1"}
    operator("POST", f"/api/v1/conversations/{conversation_id}/messages", reply)
    visitor("GET", "/api/v1/widget/events?after=0&wait=0")
    operator("GET", "/api/v1/events?after=0&wait=0")
    operator("GET", "/admin")
    visitor("GET", "/widget.js")
    visitor("GET", f"/widget/frame?site={site['site_key']}")
    operator("GET", "/metrics")


def chatdesk_tree(tmp: Path, writer: str, settle: float, *, used: bool) -> list[Sample]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHATDESK_")},
        "CHATDESK_DATABASE_URL": f"sqlite:///{tmp / 'chatdesk.db'}",
        "CHATDESK_ENV": "development",
        "CHATDESK_LOG_LEVEL": "warning",
        "CHATDESK_SQLITE_WRITER": writer,
        "BENCH_LOG_DIR": str(tmp),
    }
    server = Server.chatdesk(env, free_port())
    server.start(ready_path="/readyz")
    try:
        if used:
            use(server)
        time.sleep(settle)
        return measure_tree(server.pid)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--no-use", action="store_true", help="measure right after /readyz")
    parser.add_argument("--writer", choices=("process", "thread"), default="process")
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before reading")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chatdesk-idle-") as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "BENCH_LOG_DIR": str(tmp)}
        show("bare python -c (one interpreter)", bare_python(args.settle))
        show(
            "bare uvicorn + Starlette (bench/baseline_app.py:bare)", bare_uvicorn(env, args.settle)
        )
        used = "after a little use" if not args.no_use else "straight after /readyz"
        title = f"chatdesk serve, SQLite, writer={args.writer}, idle {used}"
        tree = chatdesk_tree(tmp, args.writer, args.settle, used=not args.no_use)
        show(title, tree, TARGET_PSS_MIB)


if __name__ == "__main__":
    main()
