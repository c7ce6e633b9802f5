"""Shared by the outage tests: chatdesk's own log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.log_guard import LineRecorder


@pytest.fixture
def recorder() -> Iterator[LineRecorder]:
    """chatdesk's own log lines (a handler on its logger: create_app replaces the root's)."""
    lines = LineRecorder()
    logger = logging.getLogger("chatdesk")
    logger.addHandler(lines)
    yield lines
    logger.removeHandler(lines)


def logged(recorder: LineRecorder, words: str) -> list[str]:
    return [line for line in recorder.lines if words in line]


def metric(text: str, name: str) -> float:
    """The value of the one sample ``name`` (with its labels) in Prometheus text."""
    [line] = [x for x in text.splitlines() if x.startswith(name + " ")]
    return float(line.split()[-1])
