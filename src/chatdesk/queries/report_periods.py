"""A report's period: its range, the viewer's time zone and the buckets it is cut into.

Reports count in quarter-hours of UTC (every zone's offset is a whole number of
quarter-hours), read from the database grouped that way, and regroup them here in
the viewer's zone: an hour, a day or a week of *local* time, DST included (ADR 0026).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatdesk.errors import ValidationFailed

__all__ = [
    "INTERVALS",
    "MAX_POINTS",
    "QUARTER",
    "Period",
    "median",
    "p90",
    "parse_period",
]

INTERVALS = ("hour", "day", "week")
QUARTER = 900  # seconds
MAX_DAYS = 400
MAX_POINTS = 2_500
DEFAULT_DAYS = 30
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """``start`` (included) to ``end`` (excluded), both aware UTC, seen from ``zone``."""

    start: datetime
    end: datetime
    zone: ZoneInfo

    @property
    def quarters(self) -> tuple[int, int]:
        """The range in UTC quarter-hours since 1970, for grouping in SQL."""
        return _quarter(self.start), _quarter(self.end)

    def local(self, quarter: int) -> datetime:
        """The local time a UTC quarter-hour starts at."""
        return datetime.fromtimestamp(quarter * QUARTER, UTC).astimezone(self.zone)

    def bucket(self, quarter: int, interval: str) -> datetime:
        """The UTC instant the local ``interval`` holding ``quarter`` starts at."""
        return _floor(self.local(quarter), interval, self.zone)

    def buckets(self, interval: str, limit: int | None = MAX_POINTS) -> list[datetime]:
        """Every bucket start from the one holding ``start`` up to ``end``, in order; more
        than ``limit`` of them is a ValidationFailed."""
        first = _floor(self.start.astimezone(self.zone), interval, self.zone)
        found: list[datetime] = []
        current = first
        while current < self.end:
            found.append(current)
            if limit is not None and len(found) > limit:
                raise ValidationFailed(
                    f"More than {limit} points: choose a longer interval or a shorter range.",
                    {"field": "interval"},
                )
            current = _next(current, interval, self.zone)
        return found


def _quarter(moment: datetime) -> int:
    return math.floor(moment.timestamp() / QUARTER)


def _floor(local: datetime, interval: str, zone: ZoneInfo) -> datetime:
    if interval == "hour":
        # fold kept: the hour repeated when clocks go back is two buckets, not one.
        start = local.replace(minute=0, second=0, microsecond=0)
        return start.astimezone(UTC)
    day = local.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())  # weeks start on Monday (ISO 8601)
    return _midnight(day, zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def _next(start: datetime, interval: str, zone: ZoneInfo) -> datetime:
    if interval == "hour":
        return _floor((start + timedelta(hours=1)).astimezone(zone), "hour", zone)
    step = timedelta(days=7 if interval == "week" else 1)
    return _midnight(start.astimezone(zone).date() + step, zone)


def parse_period(
    start: str | None, end: str | None, zone_name: str | None, now: datetime
) -> Period:
    """The period asked for, or ValidationFailed naming the field. ``from`` and ``to``
    are RFC 3339 times or dates (a date is that whole local day: ``to`` included);
    by default the last 30 days up to ``now``; ``tz`` an IANA zone (default UTC)."""
    zone = _zone(zone_name)
    until = _moment(end, zone, "to", day_end=True) if end else now
    since = (
        _moment(start, zone, "from", day_end=False)
        if start
        else until - timedelta(days=DEFAULT_DAYS)
    )
    if since >= until:
        raise ValidationFailed("'from' must be before 'to'.", {"field": "from"})
    if until - since > timedelta(days=MAX_DAYS):
        raise ValidationFailed(f"A report covers at most {MAX_DAYS} days.", {"field": "from"})
    return Period(since, until, zone)


def _zone(name: str | None) -> ZoneInfo:
    if not name:
        return ZoneInfo("UTC")
    try:
        if len(name) > 64 or name.startswith(("/", ".")):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValidationFailed(
            "tz must be an IANA time zone such as Europe/Paris.", {"field": "tz"}
        ) from exc


def _moment(text: str, zone: ZoneInfo, field: str, *, day_end: bool) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = _midnight(day + timedelta(days=1) if day_end else day, zone)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationFailed(
            f"'{field}' must be an RFC 3339 time or a YYYY-MM-DD date.", {"field": field}
        ) from exc
    if not _EARLIEST <= moment <= _LATEST:
        raise ValidationFailed(f"'{field}' is out of range.", {"field": field})
    return moment


def median(values: Iterable[float]) -> float | None:
    """The middle value (the mean of the middle two for an even count); None for none."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def p90(values: Iterable[float]) -> float | None:
    """The 90th percentile by nearest rank: the smallest value at least 90% are at or below."""
    ordered = sorted(values)
    if not ordered:
        return None
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])
