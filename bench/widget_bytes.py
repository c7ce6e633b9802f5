"""The widget's first open over the wire: bytes transferred and requests, in Chromium.

A real server (``chatdesk serve``, seeded by ``chatdesk demo``) and Debian's Chromium
through Playwright, with a cold cache: load ``/demo``, open the launcher, wait for
the pre-chat form and for the network to settle. Run twice: as the browser asks
(gzip, br) and with ``Accept-Encoding: identity`` on every request.

    .venv/bin/python bench/widget_bytes.py [--verbose]

"Frame" counts what the chat's frame fetches (its page, style sheet, joined modules,
catalog and config: the issue's "frame's first open ≤ 25 KB over the wire", checked
by tests/browser/test_widget_wire.py); "widget" adds what the host page fetches for
it (loader, launcher settings); "page" adds the demo shop's own HTML and CSS.
Bytes are as received: response headers plus the (encoded) body.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect, sync_playwright

from servers import VENV_BIN, Server, free_port

CHROMIUM = "/usr/bin/chromium"
# As tests/browser/conftest.py launches it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Fetch:
    path: str
    encoding: str
    headers: int
    body: int
    in_frame: bool

    @property
    def host_page(self) -> bool:
        return self.path == "/demo" or "/demo/" in self.path


@dataclass
class Run:
    label: str
    fetches: list[Fetch] = field(default_factory=list)

    def total(self, scope: str) -> tuple[int, int, int]:
        """Requests, body bytes, header bytes; ``scope``: frame, widget or page."""
        chosen = [
            f
            for f in self.fetches
            if scope == "page"
            or (scope == "widget" and not f.host_page)
            or (scope == "frame" and f.in_frame)
        ]
        return len(chosen), sum(f.body for f in chosen), sum(f.headers for f in chosen)


def first_open(browser: Any, base: str, label: str, *, compressed: bool) -> Run:
    run = Run(label)
    # Chromium lets a client's extra headers replace its own Accept-Encoding.
    extra = {} if compressed else {"Accept-Encoding": "identity"}
    context = browser.new_context(extra_http_headers=extra)
    context.set_default_timeout(15_000)
    page = context.new_page()

    def finished(request: Any) -> None:
        response = request.response()
        if response is None:
            return
        sizes = request.sizes()
        path = urlsplit(request.url).path
        encoding = response.headers.get("content-encoding", "-")
        run.fetches.append(
            Fetch(
                path,
                encoding,
                sizes["responseHeadersSize"],
                sizes["responseBodySize"],
                request.frame.parent_frame is not None,
            )
        )

    page.on("requestfinished", finished)
    page.goto(base + "/demo")
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()
    launcher.click()
    frame = page.frame_locator("iframe[title=Chat]")
    expect(frame.get_by_role("button", name="Start chat")).to_be_visible()
    page.wait_for_load_state("networkidle")
    context.close()
    return run


def serve(workdir: Path) -> tuple[Server, str]:
    port = free_port()
    env = {
        **os.environ,
        "CHATDESK_DATABASE_URL": f"sqlite:///{workdir / 'chatdesk.db'}",
        "CHATDESK_HOST": "127.0.0.1",
        "CHATDESK_PORT": str(port),
        "CHATDESK_LOG_LEVEL": "warning",
        "BENCH_LOG_DIR": str(workdir),
    }
    subprocess.run([str(VENV_BIN / "chatdesk"), "demo"], env=env, check=True, capture_output=True)
    server = Server.chatdesk(env, port)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="list every request")
    verbose = parser.parse_args().verbose
    with tempfile.TemporaryDirectory(prefix="chatdesk-widget-bytes-") as tmp:
        server, base = serve(Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                first_open(browser, base, "warm-up", compressed=True)  # server-side caches
                runs = [
                    first_open(browser, base, "identity", compressed=False),
                    first_open(browser, base, "gzip, br", compressed=True),
                ]
                browser.close()
        finally:
            server.stop()
    if verbose:
        for run in runs:
            print(f"\n{run.label}:")
            for f in run.fetches:
                where = "frame" if f.in_frame else "host"
                print(f"  {where:<5} {f.path:<60} {f.encoding:>5} {f.headers:>6} + {f.body:>7} B")
    print("\nfirst open, cold cache: requests, body kB + header kB = kB over the wire")
    print(f"{'':<16}{'identity':>34}{'gzip, br':>34}")
    for title, scope in (("frame", "frame"), ("widget", "widget"), ("with host page", "page")):
        cells = [run.total(scope) for run in runs]
        print(
            f"{title:<16}"
            + "".join(
                f"{n:>6} {b / 1000:>7.1f} + {h / 1000:>5.1f} = {(b + h) / 1000:>6.1f} kB"
                for n, b, h in cells
            )
        )
    _n, body, headers = runs[1].total("frame")
    print(
        f"\nframe, gzip/br: {body:,} B bodies, {body + headers:,} B over the wire"
        f" (budget {25 * 1024:,} B)"
    )


if __name__ == "__main__":
    main()
