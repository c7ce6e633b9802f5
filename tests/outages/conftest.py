"""Shared by the outage tests (their log lines: ``recorder`` in tests/log_guard.py)."""

from __future__ import annotations


def metric(text: str, name: str) -> float:
    """The value of the one sample ``name`` (with its labels) in Prometheus text."""
    [line] = [x for x in text.splitlines() if x.startswith(name + " ")]
    return float(line.split()[-1])
