"""A real HTTP receiver for webhook deliveries, on loopback in a thread.

It records every request it gets (headers and body) and answers what the test scripts:
a status per request (``answers``, then ``default``), optionally after a delay, or a
redirect. ``receipts_by_id`` groups what arrived by ``webhook-id``, as a receiver that
drops duplicates would.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Receipt:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    peer: tuple[str, int] = ("", 0)  # the client's address: one per connection

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    delay: float = 0.0
    location: str | None = None
    body: bytes = b""
    # A body this long, written in 16 KiB pieces while the client reads (see ``sent``).
    stream_bytes: int = 0


@dataclass
class Receiver:
    """Start with :meth:`start`; ``url`` is its base URL."""

    default: Answer = field(default_factory=Answer)
    answers: list[Answer] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    port: int = 0
    sent: int = 0  # bytes of streamed bodies the client took before it hung up
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                peer = (str(self.client_address[0]), int(self.client_address[1]))
                answer = receiver._take(Receipt(self.path, headers, body, time.monotonic(), peer))
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                if answer.location:
                    self.send_header("Location", answer.location)
                length = answer.stream_bytes or len(answer.body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if not answer.stream_bytes:
                    self.wfile.write(answer.body)
                    return
                piece = b"x" * 16384
                try:
                    for _ in range(length // len(piece)):
                        self.wfile.write(piece)
                        receiver.sent += len(piece)
                except OSError:
                    self.close_connection = True

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _take(self, receipt: Receipt) -> Answer:
        with self._lock:
            self.receipts.append(receipt)
            return self.answers.pop(0) if self.answers else self.default

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def receipts_by_id(self) -> dict[str, list[Receipt]]:
        found: dict[str, list[Receipt]] = defaultdict(list)
        with self._lock:
            for receipt in self.receipts:
                found[receipt.webhook_id].append(receipt)
        return dict(found)

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver: timed out; got {len(self.receipts)} requests")
            time.sleep(0.02)


def verified(receipt: Receipt, secret: str) -> Any:
    """The body, checked as a Standard Webhooks receiver checks it (raises if forged)."""
    return Webhook(secret).verify(receipt.body, receipt.headers)
