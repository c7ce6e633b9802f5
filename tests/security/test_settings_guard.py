"""Production refuses unsafe configuration and says exactly what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatdesk.app import create_app
from chatdesk.settings import Settings, on_tmpfs

SAFE = {"env": "production", "secret_key": "x" * 48, "rate_limits": "on"}


def production(tmp_path: Path, **overrides: object) -> Settings:
    values = {"database_url": f"sqlite:///{tmp_path / 'c.db'}", **SAFE, **overrides}
    return Settings.model_validate(values)


def test_a_safe_production_configuration_starts(tmp_path: Path) -> None:
    assert production(tmp_path).production_problems() == []
    create_app(production(tmp_path))


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ({"secret_key": ""}, "CHATDESK_SECRET_KEY"),
        ({"secret_key": "change-me"}, "CHATDESK_SECRET_KEY"),
        ({"secret_key": "short"}, "CHATDESK_SECRET_KEY"),
        ({"rate_limits": "off"}, "CHATDESK_RATE_LIMITS=off"),
        ({"log_level": "debug"}, "CHATDESK_LOG_LEVEL=debug"),
        ({"demo_enabled": True}, "CHATDESK_DEMO_ENABLED"),
        ({"database_url": "sqlite:////dev/shm/chatdesk.db"}, "tmpfs"),
        ({"cookie_secure": False}, "CHATDESK_COOKIE_SECURE=false"),
        ({"rate_limit_login_ip": "1000000/second"}, "CHATDESK_RATE_LIMIT_LOGIN_IP=1000000/second"),
        ({"rate_limit_login_account_ip": "100/minute"}, "CHATDESK_RATE_LIMIT_LOGIN_ACCOUNT_IP"),
        ({"rate_limit_login_account": "1000/hour"}, "CHATDESK_RATE_LIMIT_LOGIN_ACCOUNT"),
    ],
)
def test_unsafe_production_configuration_is_refused(
    tmp_path: Path, override: dict[str, object], says: str
) -> None:
    with pytest.raises(SystemExit, match=says):
        create_app(production(tmp_path, **override))


def test_production_takes_tuned_sign_in_limits_within_bounds(tmp_path: Path) -> None:
    tuned = production(
        tmp_path,
        cookie_secure=True,
        rate_limit_login_ip="500/5minute",
        rate_limit_login_account_ip="10/5minute",
        rate_limit_login_account="100/hour",
    )
    assert tuned.production_problems() == []


def test_tmpfs_detection_uses_the_longest_mount(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/vdb /run/data ext4 rw 0 0\n"
    )
    assert on_tmpfs("/run/chatdesk.db", str(mounts))
    assert not on_tmpfs("/run/data/chatdesk.db", str(mounts))
    assert not on_tmpfs("/srv/chatdesk.db", str(mounts))


def test_development_is_not_guarded(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", secret_key="")
    assert settings.production_problems() == []
