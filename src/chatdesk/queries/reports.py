"""Reports: counts and timings of conversations, read from what was stored when it
happened (ADR 0026) — never recomputed from the messages.

Each figure is counted when its moment falls in the period: conversations by when they
started, messages (public ones: no notes, no timeline entries) with their conversation,
at its start (the count the conversation keeps: ADR 0026), first responses by when the
first reply came, resolutions by when they were resolved, ratings by when they were
given. ``Scope.site_ids`` (None: every site) is applied in
SQL; the caller gets it from :func:`chatdesk.access.report_sites`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, and_, func, literal_column, select

from chatdesk.clock import iso
from chatdesk.db.intervals import quarter_hour
from chatdesk.db.tables import conversations, operators, sites
from chatdesk.queries.report_periods import QUARTER, Period, median, p90
from chatdesk.shape_types import (
    ReportAgent,
    ReportAgents,
    ReportCsat,
    ReportGroup,
    ReportHeatmap,
    ReportPoint,
    ReportRatings,
    ReportSite,
    ReportSites,
    ReportSummary,
    ReportTimeseries,
    ReportTimings,
)

__all__ = [
    "METRICS",
    "Scope",
    "agents_report",
    "heatmap_report",
    "ratings_report",
    "sites_report",
    "summary_report",
    "timeseries_report",
]

Hours = Literal["all", "business", "outside"]
METRICS = ("conversations", "messages", "first_response", "resolution", "csat")
RECENT_COMMENTS = 20
_C = conversations.c
# Each figure kept on the conversation: (when it happened, its value; None: a count).
_TIMED: dict[str, tuple[Any, Any]] = {
    "conversations": (_C.created_at, None),
    "first_response": (_C.first_response_at, _C.first_response_seconds),
    "resolution": (_C.resolved_at, _C.resolution_seconds),
    "csat": (_C.rated_at, _C.rating_score),
}


@dataclass(frozen=True)
class Scope:
    """What a report counts: a period, the sites (None: all) and which hours."""

    period: Period
    site_ids: list[str] | None
    hours: Hours = "all"


def _where(scope: Scope, moment: Any) -> ColumnElement[bool]:
    clauses = [moment >= scope.period.start, moment < scope.period.end]
    if scope.site_ids is not None:
        clauses.append(_C.site_id.in_(scope.site_ids))
    if scope.hours != "all":
        clauses.append(_C.in_business_hours == (scope.hours == "business"))
    return and_(*clauses)


def _timings(values: list[float]) -> ReportTimings:
    return {"median": median(values), "p90": p90(values)}


def _csat(total: Any, count: Any) -> ReportCsat:
    return {"average": round(total / count, 2) if count else None, "count": int(count or 0)}


def summary_report(conn: Connection, scope: Scope) -> ReportSummary:
    """Totals and timings over the scope (API.md: reports/summary)."""
    started, sent = conn.execute(
        select(func.count(), func.coalesce(func.sum(_C.message_count), 0)).where(
            _where(scope, _C.created_at)
        )
    ).one()
    csat = conn.execute(
        select(func.sum(_C.rating_score), func.count(_C.rating_score)).where(
            _where(scope, _C.rated_at)
        )
    ).one()
    return {
        "conversations": int(started),
        "messages": int(sent),
        "first_response_seconds": _overall(conn, scope, "first_response"),
        "resolution_seconds": _overall(conn, scope, "resolution"),
        "csat": _csat(*csat),
    }


def _overall(conn: Connection, scope: Scope, metric: str) -> ReportTimings:
    return _grouped_timings(conn, scope, metric, literal_column("1")).get(1, _NO_TIMINGS)[1]


def timeseries_report(
    conn: Connection, scope: Scope, metric: str, interval: str
) -> ReportTimeseries:
    """One value per local ``interval`` of the period: a count, a median (timings, in
    seconds) or an average (csat); empty buckets count 0 or have no value (null)."""
    starts = scope.period.buckets(interval)
    if conn.dialect.name == "postgresql" and metric in _MEDIANS and interval != "hour":
        return _medians_by_local_day(conn, scope, metric, interval, starts)
    edges = [_quarter_of(start) for start in starts]
    grouped: dict[int, list[float]] = defaultdict(list)
    counts = [0] * len(starts)
    for quarter, value, weight in _by_quarter(conn, scope, metric):
        index = bisect_right(edges, quarter) - 1
        if index < 0:
            continue
        counts[index] += weight
        if value is not None:
            grouped[index].append(value)
    points: list[ReportPoint] = []
    for index, start in enumerate(starts):
        points.append(
            {
                "t": iso(start),
                "local": start.astimezone(scope.period.zone).isoformat(),
                "value": _point(metric, counts[index], grouped.get(index, [])),
            }
        )
    return {"points": points}


_MEDIANS = ("first_response", "resolution")


def _medians_by_local_day(
    conn: Connection, scope: Scope, metric: str, interval: str, starts: list[datetime]
) -> ReportTimeseries:
    """PostgreSQL cuts local days and weeks itself (``AT TIME ZONE``, weeks from Monday)
    and computes each one's median, instead of sending every value: the same figures,
    a few hundred rows instead of ~100,000 a year. (Hours stay in Python: a local hour
    repeated when clocks go back is two buckets there, one here.)"""
    moment, value = _TIMED[metric]
    zone = scope.period.zone
    local = func.date_trunc(interval, func.timezone(str(zone), moment))
    query = (
        select(local, func.percentile_cont(0.5).within_group(value))
        .where(_where(scope, moment))
        .group_by(local)
    )
    found = {
        start.replace(tzinfo=zone).astimezone(UTC): _float(middle)
        for start, middle in conn.execute(query)
    }
    return {
        "points": [
            {
                "t": iso(start),
                "local": start.astimezone(zone).isoformat(),
                "value": found.get(start),
            }
            for start in starts
        ]
    }


def _point(metric: str, count: int, values: list[float]) -> float | None:
    if metric in ("conversations", "messages"):
        return count
    if metric == "csat":
        return round(sum(values) / count, 2) if count else None
    return median(values)


def _quarter_of(moment: datetime) -> int:
    return int(moment.timestamp()) // QUARTER


def _by_quarter(conn: Connection, scope: Scope, metric: str) -> Iterable[tuple[int, Any, int]]:
    """(quarter-hour, value or None, how many) rows for ``metric`` over the scope."""
    if metric == "messages":
        quarter = quarter_hour(_C.created_at)
        query = (
            select(quarter, func.sum(_C.message_count))
            .where(_where(scope, _C.created_at))
            .group_by(quarter)
        )
        return ((int(q), None, int(n)) for q, n in conn.execute(query))
    moment, value = _TIMED[metric]
    quarter = quarter_hour(moment)
    if value is None:
        query = select(quarter, func.count()).where(_where(scope, moment)).group_by(quarter)
        return ((int(q), None, int(n)) for q, n in conn.execute(query))
    rows = conn.execute(select(quarter, value).where(_where(scope, moment)))
    return ((int(q), v, 1) for q, v in rows)


def heatmap_report(conn: Connection, scope: Scope) -> ReportHeatmap:
    """Conversations started, by local weekday (0 = Monday) and hour: the busiest hours."""
    cells = [[0] * 24 for _ in range(7)]
    starts = scope.period.buckets("hour", limit=None)  # at most 24 x 400 of them
    edges = [_quarter_of(start) for start in starts]
    zone = scope.period.zone
    for quarter, _value, count in _by_quarter(conn, scope, "conversations"):
        index = bisect_right(edges, quarter) - 1
        local = starts[max(index, 0)].astimezone(zone)
        cells[local.weekday()][local.hour] += count
    return {
        "cells": [
            {"weekday": day, "hour": hour, "conversations": cells[day][hour]}
            for day in range(7)
            for hour in range(24)
        ]
    }


def _grouped_timings(
    conn: Connection, scope: Scope, metric: str, key: Any
) -> dict[Any, tuple[int, ReportTimings]]:
    """Per group: how many values of ``metric`` and their median and p90. PostgreSQL
    computes them (the same definitions: ``percentile_cont(0.5)`` is the median,
    ``percentile_disc(0.9)`` the nearest rank); SQLite has no percentiles, so its
    values come back (an index-only read) and are computed here."""
    moment, value = _TIMED[metric]
    where = _where(scope, moment)
    if conn.dialect.name == "postgresql":
        query = (
            select(
                key,
                func.count(value),
                func.percentile_cont(0.5).within_group(value),
                func.percentile_disc(0.9).within_group(value),
            )
            .where(where)
            .group_by(key)
        )
        return {
            group: (int(count), {"median": _float(middle), "p90": _float(ninety)})
            for group, count, middle, ninety in conn.execute(query)
        }
    found: dict[Any, list[float]] = defaultdict(list)
    for group, seconds in conn.execute(select(key, value).where(where)):
        found[group].append(seconds)
    return {group: (len(values), _timings(values)) for group, values in found.items()}


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _grouped_counts(conn: Connection, scope: Scope, key: Any) -> dict[Any, int]:
    query = select(key, func.count()).where(_where(scope, _C.created_at)).group_by(key)
    return {group: int(count) for group, count in conn.execute(query)}


def _grouped_csat(conn: Connection, scope: Scope, key: Any) -> dict[Any, ReportCsat]:
    query = (
        select(key, func.sum(_C.rating_score), func.count(_C.rating_score))
        .where(_where(scope, _C.rated_at))
        .group_by(key)
    )
    return {group: _csat(total, count) for group, total, count in conn.execute(query)}


_NO_TIMINGS: tuple[int, ReportTimings] = (0, {"median": None, "p90": None})


def _breakdown(conn: Connection, scope: Scope, key: Any) -> dict[Any, ReportGroup]:
    started = _grouped_counts(conn, scope, key)
    first = _grouped_timings(conn, scope, "first_response", key)
    resolved = _grouped_timings(conn, scope, "resolution", key)
    ratings = _grouped_csat(conn, scope, key)
    rows: dict[Any, ReportGroup] = {}
    for group in set(started) | set(first) | set(resolved) | set(ratings):
        rows[group] = {
            "conversations": started.get(group, 0),
            "resolved": resolved.get(group, _NO_TIMINGS)[0],
            "first_response_seconds": first.get(group, _NO_TIMINGS)[1],
            "resolution_seconds": resolved.get(group, _NO_TIMINGS)[1],
            "csat": ratings.get(group, _csat(0, 0)),
        }
    return rows


def sites_report(conn: Connection, scope: Scope) -> ReportSites:
    """The summary's figures per site, with each site's public messages."""
    rows = _breakdown(conn, scope, _C.site_id)
    sent: dict[str, int] = dict(
        conn.execute(
            select(_C.site_id, func.sum(_C.message_count))
            .where(_where(scope, _C.created_at))
            .group_by(_C.site_id)
        ).all()
    )
    names = dict(conn.execute(select(sites.c.id, sites.c.name).where(sites.c.id.in_(rows))).all())
    found = [
        ReportSite(
            site_id=site_id, name=names.get(site_id), messages=int(sent.get(site_id, 0)), **figures
        )
        for site_id, figures in rows.items()
    ]
    found.sort(key=lambda row: (-row["conversations"], row["name"] or "", row["site_id"]))
    return {"sites": found}


def agents_report(conn: Connection, scope: Scope) -> ReportAgents:
    """The summary's figures per assignee (``operator_id`` null: unassigned)."""
    rows = _breakdown(conn, scope, _C.assignee_id)
    ids = [operator_id for operator_id in rows if operator_id is not None]
    names: dict[str, str] = dict(
        conn.execute(select(operators.c.id, operators.c.name).where(operators.c.id.in_(ids))).all()
    )
    found = [
        ReportAgent(operator_id=operator_id, name=names.get(operator_id), **figures)
        for operator_id, figures in rows.items()
    ]
    found.sort(key=lambda row: (-row["conversations"], row["name"] or "", row["operator_id"] or ""))
    return {"agents": found}


def ratings_report(conn: Connection, scope: Scope) -> ReportRatings:
    """How many of each score (1-5), their average, and the newest comments."""
    where = _where(scope, _C.rated_at)
    counted: dict[int, int] = dict(
        conn.execute(
            select(_C.rating_score, func.count()).where(where).group_by(_C.rating_score)
        ).all()
    )
    recent = conn.execute(
        select(_C.id, _C.site_id, _C.rating_score, _C.rating_comment, _C.rated_at)
        .where(where, _C.rating_comment.is_not(None), _C.rating_comment != "")
        .order_by(_C.rated_at.desc(), _C.id.desc())
        .limit(RECENT_COMMENTS)
    ).all()
    total = sum(int(score) * int(count) for score, count in counted.items())
    return {
        "distribution": [
            {"score": score, "count": int(counted.get(score, 0))} for score in range(1, 6)
        ],
        "csat": _csat(total, sum(int(count) for count in counted.values())),
        "recent": [
            {
                "conversation_id": row.id,
                "site_id": row.site_id,
                "score": row.rating_score,
                "comment": row.rating_comment,
                "rated_at": iso(row.rated_at),
            }
            for row in recent
        ],
    }
