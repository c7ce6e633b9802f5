"""Report periods (ADR 0026): the viewer's local hours, days and weeks across both
daylight-saving changes, and the range's checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatdesk.errors import ValidationFailed
from chatdesk.queries.report_periods import median, p90, parse_period

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _local(period_from: str, period_to: str, interval: str, tz: str) -> list[str]:
    period = parse_period(period_from, period_to, tz, NOW)
    return [start.astimezone(period.zone).isoformat() for start in period.buckets(interval)]


def test_the_hour_repeated_when_clocks_go_back_is_two_buckets() -> None:
    # Europe/Paris goes from +02:00 to +01:00 at 2026-10-25 01:00 UTC (03:00 local).
    hours = _local("2026-10-25T00:00:00+02:00", "2026-10-25T04:00:00+01:00", "hour", "Europe/Paris")
    assert hours == [
        "2026-10-25T00:00:00+02:00",
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


def test_days_are_23_and_25_hours_long_on_the_changes() -> None:
    spring = parse_period("2026-03-29", "2026-03-29", "Europe/Paris", NOW)
    autumn = parse_period("2026-10-25", "2026-10-25", "Europe/Paris", NOW)
    assert (spring.end - spring.start).total_seconds() == 23 * 3600
    assert (autumn.end - autumn.start).total_seconds() == 25 * 3600
    assert _local("2026-10-24", "2026-10-26", "day", "Europe/Paris") == [
        "2026-10-24T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    ]


def test_half_hour_zones_and_weeks() -> None:
    assert _local("2026-01-05", "2026-01-18", "week", "Asia/Kolkata") == [
        "2026-01-05T00:00:00+05:30",
        "2026-01-12T00:00:00+05:30",
    ]
    period = parse_period("2026-01-05", "2026-01-05", "Asia/Kathmandu", NOW)
    assert period.start == datetime(2026, 1, 4, 18, 15, tzinfo=UTC)  # +05:45


def test_defaults_and_limits() -> None:
    period = parse_period(None, None, None, NOW)
    assert (period.start, period.end, str(period.zone)) == (
        datetime(2026, 11, 6, 12, 0, tzinfo=UTC),
        NOW,
        "UTC",
    )
    assert len(parse_period("2026-01-01", "2026-03-01", "UTC", NOW).buckets("hour")) == 1440
    with pytest.raises(ValidationFailed):
        parse_period("2026-01-01", "2026-05-01", "UTC", NOW).buckets("hour")  # 2,904 > 2,500


def test_median_and_nearest_rank() -> None:
    assert median([]) is None and p90([]) is None
    assert median([5, 1, 3]) == 3 and median([4, 1, 3, 2]) == 2.5
    assert p90(range(1, 11)) == 9 and p90(range(1, 12)) == 10 and p90([7]) == 7
