"""Shared fixtures: a real database per test, the app over ASGI, and a live server.

The database is a fresh SQLite file per test, or, when
``CHATDESK_TEST_DATABASE_URL`` names a PostgreSQL server, one database created
for the run (and dropped after it) whose tables are emptied before each test.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from uvicorn.server import ServerState

from chatdesk.app import create_app
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import upgrade
from chatdesk.db.tables import metadata
from chatdesk.settings import Settings
from chatdesk.web.http_protocol import bounded_protocol
from tests.jobs.receiver import Receiver
from tests.schema_conformance import conformance_for
from tests.storage.s3_server import s3_credentials, s3_server  # noqa: F401 (fixtures)

# Fails the run if any captured log line carries a token, cookie or password.
pytest_plugins = ["tests.log_guard"]

PG_URL = os.environ.get("CHATDESK_TEST_DATABASE_URL", "")


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str | None]:
    """A PostgreSQL database of this run's own, migrated once; None on SQLite runs."""
    if not PG_URL:
        yield None
        return
    name = f"chatdesk_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # fail, never skip: the PostgreSQL suite must run
        pytest.exit(f"PostgreSQL at {PG_URL} is unreachable: {exc}", returncode=3)
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url, writer=True)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path, _pg_database: str | None) -> str:
    if _pg_database is None:
        return f"sqlite:///{tmp_path / 'chatdesk.db'}"
    engine = create_engine(_pg_database)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return _pg_database


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        files_dir=str(tmp_path / "files"),
        redis_url=None,
        log_format="json",
        event_poll_seconds=0.5,
        sse_heartbeat_seconds=1.0,
        # Limits are exercised by tests/security with their own settings; elsewhere many
        # sign-ins from one address would trip them.
        rate_limits="off",
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """The app over ASGI (lifespan included); base URL http://testserver. Every JSON
    answer is checked against what /openapi.json declares (tests/schema_conformance.py)."""
    with TestClient(app) as test_client:
        test_client.event_hooks["response"].append(conformance_for(app).hook)
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ``chatdesk serve``'s HTTP protocol (web/http_protocol.py), with the default limits.
SERVED_PROTOCOL = bounded_protocol(
    Settings.model_fields["max_header_bytes"].default,
    Settings.model_fields["max_header_count"].default,
)


class LiveServer:
    """A real uvicorn server on loopback, in a thread; restartable on the same port.
    It speaks HTTP as ``chatdesk serve`` does, or with ``protocol="httptools"`` as
    uvicorn alone does (a server without chatdesk's hang-up hook)."""

    def __init__(self, make_app: Any, protocol: Any = SERVED_PROTOCOL) -> None:
        self.make_app = make_app
        self.protocol = protocol
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            self.make_app(),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=1,
            http=self.protocol,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)

    def state(self) -> ServerState:
        """uvicorn's state of the running server (its open connections)."""
        assert self._server is not None
        return self._server.server_state

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(lambda: create_app(settings))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback (tests/jobs/receiver.py), answering 200 by default."""
    started = Receiver().start()
    yield started
    started.stop()
