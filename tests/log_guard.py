"""A whole-run guard: no secret may appear in any log line any test makes chatdesk write.

Load it from ``tests/conftest.py`` with ``pytest_plugins = ["tests.log_guard"]``.

chatdesk's logging writes every line through its redacting formatter to stderr (the root
logger's only handler; ``configure_logging`` replaces the root handlers at every
``create_app``, so a handler of ours would not survive). The guard therefore reads what
really reached stderr: pytest captures it per test phase, and each test's captured stderr
is scanned once its teardown is reported. At the end of the session any offending line
fails the run (exit status 1) and is printed, with the test that wrote it. Runs with
``-s`` (capture off) cannot be checked and say so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

__all__ = ["SECRET_SHAPES", "LineRecorder", "logged", "offending", "recorder"]

# A token or password starts after something that cannot be part of one: inside a
# random URL-safe value (an OpenID state, nonce or code challenge) "pw-" and sixteen
# more characters turn up about once in three thousand log lines.
_START = r"(?<![A-Za-z0-9_-])"
SECRET_SHAPES = re.compile(
    _START + r"cd[vsk]_[A-Za-z0-9_-]{20,}"  # visitor, session and API tokens
    r"|whsec_[A-Za-z0-9+/=]{20,}"  # webhook signing secrets
    r"|Bearer "  # an Authorization value
    r"|chatdesk_session="  # a cookie header
    r"|" + _START + r"pw-[A-Za-z0-9_-]{16}"  # passwords made by tests/factories.py
)


def offending(lines: list[str]) -> list[str]:
    """The lines that carry something shaped like a secret."""
    return [line for line in lines if SECRET_SHAPES.search(line)]


class LineRecorder(logging.Handler):
    """Records every line as chatdesk's own formatter renders it (for tests that attach it)."""

    def __init__(self) -> None:
        super().__init__()
        root_handlers = logging.getLogger().handlers
        if root_handlers and root_handlers[0].formatter is not None:
            self.setFormatter(root_handlers[0].formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def recorder() -> Iterator[LineRecorder]:
    """chatdesk's own log lines (a handler on its logger: create_app replaces the root's)."""
    lines = LineRecorder()
    logger = logging.getLogger("chatdesk")
    logger.addHandler(lines)
    yield lines
    logger.removeHandler(lines)


def logged(recorder: LineRecorder, words: str) -> list[str]:
    """The recorded lines that contain ``words``."""
    return [line for line in recorder.lines if words in line]


@dataclass
class _Findings:
    offenders: list[tuple[str, str]] = field(default_factory=list)
    scanned: int = 0


_FINDINGS = _Findings()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":
        return
    # The teardown report carries the stderr captured in setup, call and teardown.
    for title, content in report.sections:
        if "stderr" not in title:
            continue
        lines = content.splitlines()
        _FINDINGS.scanned += len(lines)
        _FINDINGS.offenders.extend((report.nodeid, line) for line in offending(lines))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if session.config.getoption("capture") == "no" and reporter is not None:
        reporter.write_line("log guard: capture is off (-s), log lines were not checked")
    if not _FINDINGS.offenders:
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if reporter is not None:
        reporter.write_sep("=", "log guard: secrets in log lines", red=True)
        for nodeid, line in _FINDINGS.offenders[:50]:
            reporter.write_line(f"{nodeid}: {line[:300]}")
        if len(_FINDINGS.offenders) > 50:
            reporter.write_line(f"... and {len(_FINDINGS.offenders) - 50} more")
