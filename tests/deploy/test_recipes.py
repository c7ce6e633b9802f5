"""The shipped deployment files hold together: nginx accepts the site file as shipped,
systemd accepts the units and they carry the options docs/deploy.md promises, and every
setting and file the recipe names exists."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chatdesk.settings import Settings
from tests.deploy.stack import NGINX, self_signed_certificate

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "deploy.md"


def test_nginx_accepts_the_site_file_as_shipped(tmp_path: Path) -> None:
    if not Path(NGINX).exists():  # fail, never skip: the recipe must be checked
        pytest.fail(f"{NGINX} is missing: apt-get install nginx")
    cert, key = self_signed_certificate(tmp_path)
    site = (DEPLOY / "nginx.conf").read_text()
    # Only what cannot exist here changes: the certificate and the log file.
    site = site.replace("/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key))
    site = site.replace("/var/log/nginx/chatdesk.access.log", str(tmp_path / "access.log"))
    (tmp_path / "chatdesk.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{ include /etc/nginx/mime.types; include {tmp_path}/chatdesk.conf; }}\n"
    )
    error_log = str(tmp_path / "error.log")
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", error_log],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr


def unit(name: str) -> configparser.ConfigParser:
    # strict=False: systemd allows a key more than once (SystemCallFilter=).
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name)
    return parser


@pytest.mark.parametrize("name", ["chatdesk.service", "chatdesk@.service"])
def test_systemd_units_run_chatdesk_safely(name: str) -> None:
    service = unit(name)["Service"]
    assert service["ExecStart"].startswith("/opt/chatdesk/venv/bin/chatdesk serve --port ")
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "on-failure"
    assert service["User"] == "chatdesk"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"  # read-only everywhere ...
    assert service["StateDirectory"] == "chatdesk"  # ... but /var/lib/chatdesk
    assert service["EnvironmentFile"] == "/etc/chatdesk/chatdesk.env"
    assert service["SyslogIdentifier"] == "chatdesk"  # docs/deploy.md filters logs by it
    assert "sqlite:////var/lib/chatdesk/" in (DEPLOY / "chatdesk.env").read_text()
    assert unit("chatdesk@.service")["Service"]["ExecStart"].endswith("--port %i")


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # fail, never skip
        pytest.fail("systemd-analyze is missing: apt-get install systemd")
    # The real ExecStart does not exist here; systemd-analyze checks it is executable.
    for name, as_name in [
        ("chatdesk.service", "chatdesk.service"),
        ("chatdesk@.service", "chatdesk@8001.service"),
    ]:
        text = (DEPLOY / name).read_text()
        (tmp_path / as_name).write_text(
            text.replace("/opt/chatdesk/venv/bin/chatdesk", "/bin/true")
        )
        done = subprocess.run(
            [analyze, "verify", str(tmp_path / as_name)], capture_output=True, text=True, timeout=60
        )
        ours = [line for line in done.stderr.splitlines() if as_name in line]
        assert done.returncode == 0 and ours == [], done.stderr


def test_admin_script_is_valid_shell() -> None:
    script = DEPLOY / "chatdesk-admin"
    assert script.stat().st_mode & 0o111
    subprocess.run(["sh", "-n", str(script)], check=True, timeout=10)


def test_the_recipe_names_only_real_settings_and_files() -> None:
    known = {name.upper() for name in Settings.model_fields}
    texts = {path: path.read_text() for path in DEPLOY.rglob("*") if path.is_file()}
    texts[GUIDE] = GUIDE.read_text()
    for path, text in texts.items():
        named = set(re.findall(r"CHATDESK_([A-Z_]+[A-Z])", text))
        assert named - known == set(), path
    named_files = set(re.findall(r"`(deploy/[\w@./-]+)`", texts[GUIDE]))
    assert named_files, "docs/deploy.md names no file of deploy/"
    assert {name for name in named_files if not (ROOT / name).exists()} == set()
    shipped = {str(path.relative_to(ROOT)) for path in DEPLOY.rglob("*") if path.is_file()}
    assert shipped - named_files == set()  # every shipped file is explained
