"""A production-shaped chatdesk on loopback: Debian's nginx (configured from
``deploy/nginx.conf``) with TLS in front of chatdesk processes (``chatdesk serve``) on one
PostgreSQL database and Redis.

Everything is real and started here; what cannot be found or reached fails the test
(never a skip): the point of these tests is that the shipped recipe works.
"""

from __future__ import annotations

import http.client
import os
import queue
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.conftest import free_port
from tests.realtime.conftest import REDIS_URL, Frame, sse_frames

__all__ = [
    "NGINX",
    "Nginx",
    "Node",
    "StreamEnded",
    "StreamReader",
    "chatdesk_cli",
    "new_secret",
    "postgres_database",
    "reachable_redis",
    "self_signed_certificate",
    "settings_env",
    "tls_context",
]

ROOT = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"
CHATDESK = str(Path(sys.executable).with_name("chatdesk"))
# The PostgreSQL pass names its server; the SQLite pass uses the README's default one.
PG_ADMIN_URL = os.environ.get(
    "CHATDESK_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database(prefix: str = "chatdesk_nginx") -> Iterator[str]:
    """A database of its own on the PostgreSQL server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reachable_redis() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return REDIS_URL


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (openssl), valid for a day; (certificate, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt"]
    command += ["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def chatdesk_cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [CHATDESK, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def settings_env(**settings: str) -> dict[str, str]:
    """This process's environment without any CHATDESK_ setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATDESK_")}
    env.update({f"CHATDESK_{name.upper()}": value for name, value in settings.items()})
    return env


@dataclass
class Node:
    """One ``chatdesk serve --port`` process."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [CHATDESK, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"chatdesk on {self.port} exited:\n{self.tail()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"chatdesk on {self.port} is not ready:\n{self.tail()}")

    def open_streams(self) -> float:
        """Its parked long-polls and SSE streams, from its own /metrics (loopback is allowed)."""
        status, body = self.get("/metrics")
        assert status == 200, body
        for line in body.splitlines():
            if line.startswith("chatdesk_open_streams "):
                return float(line.split()[1])
        raise AssertionError("chatdesk_open_streams is not in /metrics")

    def get(self, path: str) -> tuple[int, str]:
        """A plain GET to this process itself (http.client: no TLS context to build)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Nginx:
    """Debian's nginx in the foreground, serving ``deploy/nginx.conf`` on loopback ports."""

    def __init__(self, prefix: Path, upstreams: list[int], cert: Path, key: Path) -> None:
        if not Path(NGINX).exists():  # fail, never skip: the proxy recipe must be tested
            pytest.fail(f"{NGINX} is missing: apt-get install nginx")
        self.prefix = prefix
        self.https_port, self.http_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.access_log = prefix / "access.log"
        self.error_log = prefix / "error.log"
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / "temp" / temp).mkdir(parents=True, exist_ok=True)
        site = prefix / "chatdesk.conf"
        site.write_text(self._site(upstreams, cert, key))
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(self._main(site))
        self.process: subprocess.Popen[bytes] | None = None

    def _site(self, upstreams: list[int], cert: Path, key: Path) -> str:
        """The shipped site file with this machine's ports, certificate and log path."""
        text = (ROOT / "deploy" / "nginx.conf").read_text()
        replacements = [
            ("server 127.0.0.1:8001 ", f"server 127.0.0.1:{upstreams[0]} "),
            ("server 127.0.0.1:8002 ", f"server 127.0.0.1:{upstreams[1]} "),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{self.https_port} ssl http2;"),
            ("listen [::]:443 ssl http2;", ""),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("listen [::]:80;", ""),
            ("/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert)),
            ("/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key)),
            ("/var/log/nginx/chatdesk.access.log", str(self.access_log)),
        ]
        for old, new in replacements:
            assert old in text, f"deploy/nginx.conf no longer has {old!r}"
            text = text.replace(old, new)
        return text

    def _main(self, site: Path) -> str:
        temp = self.prefix / "temp"
        # As root, workers would switch to nobody, who cannot read pytest's temp dirs.
        user = "user root;" if os.geteuid() == 0 else ""
        return f"""{user}
worker_processes 1;
daemon off;
pid {self.prefix}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""

    def _command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e", str(self.error_log)]

    def start(self) -> None:
        checked = subprocess.run(
            [*self._command(), "-t"], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(self._command())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("nginx exited:\n" + self.error_log.read_text())
            try:
                socket.create_connection(("127.0.0.1", self.http_port), timeout=2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start:\n" + self.error_log.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish open requests
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


def tls_context(cert: Path) -> ssl.SSLContext:
    """A context trusting ``cert``, built once per stack and shared: building contexts
    again (httpx builds one per client) was seen to fail now and then with OpenSSL's
    "PEM lib" error after a stream was cut off."""
    return ssl.create_default_context(cafile=str(cert))


class StreamReader:
    """An SSE stream read in a thread; frames queue up with the time they arrived."""

    def __init__(self, client: httpx.Client, path: str, headers: dict[str, str]) -> None:
        self.client = client
        self.frames: queue.Queue[tuple[float, Frame | BaseException | None]] = queue.Queue()
        self.opened = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, headers), daemon=True)
        self._thread.start()

    def _run(self, path: str, headers: dict[str, str]) -> None:
        try:
            stream_headers = {"Accept": "text/event-stream", **headers}
            with self.client.stream("GET", path, headers=stream_headers) as response:
                assert response.status_code == 200, response.read()
                for frame in sse_frames(response):
                    if frame.retry is not None:
                        self.opened.set()  # the stream's first frame
                    self.frames.put((time.monotonic(), frame))
        except BaseException as exc:  # handed to the test, which raises it
            self.frames.put((time.monotonic(), exc))
        else:
            self.frames.put((time.monotonic(), None))

    def next_event(self, timeout: float = 10) -> tuple[float, Frame]:
        """The next frame carrying an event, and when it arrived; raises once the stream ended."""
        deadline = time.monotonic() + timeout
        while True:
            arrived, item = self.frames.get(timeout=max(0.0, deadline - time.monotonic()))
            if item is None or isinstance(item, BaseException):
                raise StreamEnded(item)
            if item.event is not None:
                return arrived, item

    def wait_ended(self, timeout: float = 10) -> BaseException | None:
        """Skip the remaining frames until the stream ends; what ended it."""
        deadline = time.monotonic() + timeout
        while True:
            _arrived, item = self.frames.get(timeout=max(0.0, deadline - time.monotonic()))
            if item is None or isinstance(item, BaseException):
                return item

    def close(self) -> None:
        self.client.close()
        self._thread.join(timeout=10)


class StreamEnded(Exception):
    def __init__(self, cause: Any) -> None:
        super().__init__(f"the stream ended: {cause!r}")
        self.cause = cause


def new_secret() -> str:
    return secrets.token_urlsafe(48)
