"""``chatdesk serve`` on an empty database: the first owner's password is shown on a
terminal only; otherwise (a service, a log collector) it goes to a file only the
server's user can read, and standard output names the file."""

from __future__ import annotations

import os
import pty
import re
import select
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port

# Each test serves a fresh SQLite file of its own, on either test pass.
CHATDESK = Path(sys.executable).parent / "chatdesk"


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CHATDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'chatdesk.db'}",
        "CHATDESK_PORT": str(free_port()),
        "CHATDESK_LOG_FORMAT": "json",
        "COLUMNS": "200",
    }


@contextmanager
def _serving(tmp_path: Path, stdout: int) -> Iterator[subprocess.Popen[bytes]]:
    server = subprocess.Popen(
        [str(CHATDESK), "serve"],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _read_until(fd: int, pattern: str, timeout: float = 30.0) -> str:
    """Read ``fd`` until ``pattern`` shows up in what was read."""
    text = ""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, text):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{pattern!r} never appeared in: {text!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # a pty reports its closed end as EIO
                chunk = b""
            if not chunk:
                raise AssertionError(f"output ended before {pattern!r}: {text!r}")
            text += chunk.decode(errors="replace")
    return text


def test_without_a_terminal_the_password_goes_to_a_private_file(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    with _serving(tmp_path, write_end):
        os.close(write_end)
        text = _read_until(read_end, r"/admin/account")
    os.close(read_end)
    path = tmp_path / "chatdesk-first-owner.txt"
    assert str(path) in text, text
    saved = path.read_text()
    password = re.search(r"^password: (\S+)$", saved, re.MULTILINE)
    assert password is not None and "email: owner@chatdesk.local" in saved
    assert password.group(1) not in text  # never on standard output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_on_a_terminal_the_password_is_shown_once(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    with _serving(tmp_path, follower):
        os.close(follower)
        text = _read_until(leader, r"/admin/account")
    os.close(leader)
    assert re.search(r"password: \S{12,}", text), text
    assert not (tmp_path / "chatdesk-first-owner.txt").exists()
