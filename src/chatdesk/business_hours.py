"""Business hours: when a site's widget shows itself online.

Shape: ``{"timezone": "Europe/Paris", "days": {"mon": [["09:00", "17:30"]], ...}}``;
a day left out is closed all day; ``None`` means always open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DAYS", "is_open", "validate_hours"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if len(text) != 5 or not (hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"{text!r} is not HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(hours) > 24 or int(minutes) > 59 or value > 24 * 60:
        raise ValueError(f"{text!r} is not a time of day")
    return value


def validate_hours(value: Any) -> dict[str, Any] | None:
    """``value`` checked and normalised; ValueError says what is wrong."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"timezone", "days"}:
        raise ValueError("business_hours needs 'timezone' and 'days'")
    zone = value.get("timezone")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {zone!r}") from exc
    days = value.get("days") or {}
    if not isinstance(days, dict) or set(days) - set(DAYS):
        raise ValueError(f"days must be keyed by {', '.join(DAYS)}")
    clean: dict[str, list[list[str]]] = {}
    for day, spans in days.items():
        if not isinstance(spans, list) or len(spans) > 6:
            raise ValueError(f"{day}: a list of at most 6 [start, end] pairs")
        for span in spans:
            if not isinstance(span, list) or len(span) != 2:
                raise ValueError(f"{day}: each span is [start, end]")
            if not all(isinstance(t, str) for t in span) or _minutes(span[0]) >= _minutes(span[1]):
                raise ValueError(f"{day}: {span} must be HH:MM with start before end")
        clean[day] = [list(span) for span in spans]
    return {"timezone": zone, "days": clean}


def is_open(hours: dict[str, Any] | None, now: datetime) -> bool:
    if not hours:
        return True
    local = now.astimezone(ZoneInfo(hours["timezone"]))
    minute = local.hour * 60 + local.minute
    spans = hours["days"].get(DAYS[local.weekday()], [])
    return any(_minutes(start) <= minute < _minutes(end) for start, end in spans)
