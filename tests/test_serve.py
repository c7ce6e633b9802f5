"""``chatdesk serve`` as a user starts it, and what its processes import.

Every module a long-lived process imports stays in its memory, so the server keeps
out what it does not serve with: Alembic once the schema is current, the command
line's modules (``serve`` becomes ``python -m chatdesk.serving`` in the same
process) and rich. Its writer process is forked from it (ADR 0011), so the two
share the modules' pages. bench/idle_memory.py measures what this saves.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from chatdesk.bootstrap import ensure_schema, schema_is_current
from chatdesk.db.engine import make_engine
from chatdesk.db.migrate import head_revision, upgrade
from chatdesk.errors import ChatdeskError
from tests.conftest import free_port

CHATDESK = Path(sys.executable).parent / "chatdesk"
# What an idle server must not hold: the migration tool and what it pulls in.
MIGRATION_ONLY = ("alembic", "mako")


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHATDESK_")}
    return {**clean, "CHATDESK_LOG_LEVEL": "warning", **extra}


def _loaded(code: str, env: dict[str, str]) -> list[str]:
    """The top-level packages a fresh interpreter holds after running ``code``."""
    report = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_schema_is_current_follows_the_version_table(database_url: str) -> None:
    engine = make_engine(database_url, writer=True)
    upgrade(engine)
    try:
        assert schema_is_current(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        assert not schema_is_current(engine)
        with pytest.raises(ChatdeskError) as refused:
            ensure_schema(engine, auto=False)  # PostgreSQL's way: refuse, never migrate
        assert refused.value.code == "schema_outdated"
    finally:  # the PostgreSQL pass shares one database between tests
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()}
            )
    assert schema_is_current(engine)
    engine.dispose()


def test_a_fresh_sqlite_file_is_not_current(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}", writer=True)
    try:
        assert not schema_is_current(engine)
        with pytest.raises(ChatdeskError) as refused:
            ensure_schema(engine, auto=False)  # PostgreSQL's way: refuse, never migrate
        assert refused.value.code == "schema_outdated"
    finally:
        engine.dispose()


def test_the_app_on_a_current_schema_never_imports_alembic(database_url: str) -> None:
    engine = make_engine(database_url, writer=True)
    upgrade(engine)
    engine.dispose()
    code = (
        "from fastapi.testclient import TestClient\n"
        "from chatdesk.app import create_app\n"
        "from chatdesk.settings import Settings\n"
        f"app = create_app(Settings(env='test', database_url={database_url!r}))\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/readyz').status_code == 200\n"
    )
    loaded = _loaded(code, _env())
    assert "chatdesk" in loaded and "sqlalchemy" in loaded
    assert not set(MIGRATION_ONLY) & set(loaded)


def test_the_server_holds_neither_the_command_line_nor_rich(database_url: str) -> None:
    """structlog would import rich (about 4 MiB) whenever it is installed. (No test
    client here: httpx imports rich too.) Without CHATDESK_REDIS_URL, the Redis client
    (about 5 MiB) is not loaded either."""
    code = (  # what chatdesk.serving imports to serve
        "import chatdesk.serving, uvicorn\n"
        "from chatdesk.web.http_protocol import bounded_protocol\n"
        "from chatdesk.app import create_app\n"
        "from chatdesk.settings import Settings\n"
        f"app = create_app(Settings(env='test', database_url={database_url!r}))\n"
    )
    loaded = _loaded(code, _env())
    assert "structlog" in loaded and "uvicorn" in loaded
    for kept_out in ("typer", "rich", "pygments", "redis", *MIGRATION_ONLY):
        assert kept_out not in loaded, kept_out


def test_the_command_module_imports_only_typer() -> None:
    loaded = _loaded("import chatdesk.cli", _env())
    assert "typer" in loaded
    for heavy in ("pydantic", "pydantic_settings", "sqlalchemy", "rich", *MIGRATION_ONLY):
        assert heavy not in loaded, heavy


def test_serve_migrates_a_fresh_file_and_hands_over_the_first_owner(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = _env(CHATDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'chatdesk.db'}")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(CHATDESK), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = _wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        assert ready, log.read_text()
        # The same process now runs the server proper, and its writer process is a
        # fork of it (same command line), not a fresh interpreter.
        command = _command_line(server.pid)
        assert command[1:] == ["-m", "chatdesk.serving"], command
        assert [_command_line(pid) for pid in _children(server.pid)] == [command]
        printed = log.read_text()
        email = re.search(r"email:\s+(\S+)", printed)
        # Standard output is no terminal here: the password is in a file only this user
        # reads, beside the database, and the output names that file.
        owner_file = tmp_path / "chatdesk-first-owner.txt"
        assert str(owner_file) in printed, printed
        password = re.search(r"^password: (\S+)$", owner_file.read_text(), re.MULTILINE)
        assert email is not None and password is not None, printed
        # Links name the address served (no CHATDESK_PUBLIC_URL here), and the password
        # is changed on the Account page.
        assert f"chatdesk is running at http://127.0.0.1:{port}\n" in printed
        assert f"Console:   http://127.0.0.1:{port}/admin\n" in printed
        assert "change it under Account" in printed and "under Settings" not in printed
        assert f"http://127.0.0.1:{port}/admin/account" in printed
        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            data=json.dumps({"email": email[1], "password": password[1]}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as response:
            assert response.status == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert server.returncode == 0, log.read_text()


def _command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            time.sleep(0.1)
    return False
