"""Reports (ADR 0026): admins and owners see every site's, agents their sites'.

Every report takes ``from``, ``to`` (RFC 3339 times or dates), ``site_id``, ``tz`` (the
viewer's IANA zone) and ``hours`` (all, business or outside the site's business
hours). With ``Accept: text/csv`` (or ``format=csv``, for a plain download link) the
tables come as CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response

from chatdesk.access import report_sites
from chatdesk.queries.report_periods import parse_period
from chatdesk.queries.reports import (
    Scope,
    agents_report,
    heatmap_report,
    ratings_report,
    sites_report,
    summary_report,
    timeseries_report,
)
from chatdesk.shape_types import (
    ReportAgents,
    ReportHeatmap,
    ReportRatings,
    ReportSites,
    ReportSummary,
    ReportTimeseries,
)
from chatdesk.web.answers import answers
from chatdesk.web.deps import OPERATOR_LIMITS, CurrentOperator, ServicesDep

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=OPERATOR_LIMITS)

T = TypeVar("T")
CSV = {"text/csv": {"schema": {"type": "string", "description": "The same rows as CSV."}}}
Metric = Literal["conversations", "messages", "first_response", "resolution", "csat"]
Interval = Literal["hour", "day", "week"]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class ReportParams:
    """The query parameters every report shares."""

    def __init__(
        self,
        start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
        site_id: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
        tz: Annotated[str | None, Query(max_length=64)] = None,
        hours: Literal["all", "business", "outside"] = "all",
        format: Literal["json", "csv"] = "json",
    ) -> None:
        self.start, self.end, self.site_id, self.tz = start, end, site_id, tz
        self.hours: Literal["all", "business", "outside"] = hours
        self.format = format


Params = Annotated[ReportParams, Depends()]


async def _report(
    services: ServicesDep,
    actor: CurrentOperator,
    params: ReportParams,
    build: Callable[[Any, Scope], T],  # (connection, scope) -> the report
) -> T:
    period = parse_period(params.start, params.end, params.tz, services.clock())

    def run(conn: Any) -> T:
        sites = report_sites(conn, actor, params.site_id)
        return build(conn, Scope(period, sites, params.hours))

    return await services.db.read(run)


def _wants_csv(request: Request, params: ReportParams) -> bool:
    return params.format == "csv" or "text/csv" in request.headers.get("accept", "")


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell starting like a formula: names and comments are text.
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


def _csv(name: str, header: list[str], rows: Iterable[Iterable[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _figures(row: Mapping[str, Any]) -> list[Any]:
    return [
        row["conversations"],
        row["resolved"],
        row["first_response_seconds"]["median"],
        row["first_response_seconds"]["p90"],
        row["resolution_seconds"]["median"],
        row["resolution_seconds"]["p90"],
        row["csat"]["average"],
        row["csat"]["count"],
    ]


_FIGURES = [
    "conversations",
    "resolved",
    "first_response_median",
    "first_response_p90",
    "resolution_median",
    "resolution_p90",
    "csat_average",
    "csat_count",
]


@router.get(
    "/summary",
    summary="Totals and timings over a period, for your sites",
    **answers(ReportSummary, 401, 403, 404, 422, content=CSV),
)
async def get_summary(
    services: ServicesDep, request: Request, actor: CurrentOperator, params: Params
) -> ReportSummary | Response:
    found = await _report(services, actor, params, summary_report)
    if not _wants_csv(request, params):
        return found
    rows = [
        ("conversations", found["conversations"]),
        ("messages", found["messages"]),
        ("first_response_median", found["first_response_seconds"]["median"]),
        ("first_response_p90", found["first_response_seconds"]["p90"]),
        ("resolution_median", found["resolution_seconds"]["median"]),
        ("resolution_p90", found["resolution_seconds"]["p90"]),
        ("csat_average", found["csat"]["average"]),
        ("csat_count", found["csat"]["count"]),
    ]
    return _csv("summary", ["figure", "value"], rows)


@router.get(
    "/timeseries",
    summary="One metric per hour, day or week of the viewer's time zone",
    **answers(ReportTimeseries, 401, 403, 404, 422, content=CSV),
)
async def get_timeseries(
    services: ServicesDep,
    request: Request,
    actor: CurrentOperator,
    params: Params,
    metric: Metric,
    interval: Interval = "day",
) -> ReportTimeseries | Response:
    found = await _report(
        services,
        actor,
        params,
        lambda conn, scope: timeseries_report(conn, scope, metric, interval),
    )
    if not _wants_csv(request, params):
        return found
    rows = ((point["t"], point["local"], point["value"]) for point in found["points"])
    return _csv(f"{metric}-by-{interval}", ["t", "local", metric], rows)


@router.get(
    "/sites",
    summary="The summary's figures per site",
    **answers(ReportSites, 401, 403, 404, 422, content=CSV),
)
async def get_sites(
    services: ServicesDep, request: Request, actor: CurrentOperator, params: Params
) -> ReportSites | Response:
    found = await _report(services, actor, params, sites_report)
    if not _wants_csv(request, params):
        return found
    rows = ([s["site_id"], s["name"], s["messages"], *_figures(s)] for s in found["sites"])
    return _csv("sites", ["site_id", "name", "messages", *_FIGURES], rows)


@router.get(
    "/agents",
    summary="The summary's figures per assignee",
    **answers(ReportAgents, 401, 403, 404, 422, content=CSV),
)
async def get_agents(
    services: ServicesDep, request: Request, actor: CurrentOperator, params: Params
) -> ReportAgents | Response:
    found = await _report(services, actor, params, agents_report)
    if not _wants_csv(request, params):
        return found
    rows = ([a["operator_id"], a["name"], *_figures(a)] for a in found["agents"])
    return _csv("agents", ["operator_id", "name", *_FIGURES], rows)


@router.get(
    "/heatmap",
    summary="Conversations started per local weekday and hour (the busiest hours)",
    **answers(ReportHeatmap, 401, 403, 404, 422, content=CSV),
)
async def get_heatmap(
    services: ServicesDep, request: Request, actor: CurrentOperator, params: Params
) -> ReportHeatmap | Response:
    found = await _report(services, actor, params, heatmap_report)
    if not _wants_csv(request, params):
        return found
    rows = ((c["weekday"], c["hour"], c["conversations"]) for c in found["cells"])
    return _csv("busiest-hours", ["weekday", "hour", "conversations"], rows)


@router.get(
    "/ratings",
    summary="How many of each score, their average and the newest comments",
    **answers(ReportRatings, 401, 403, 404, 422, content=CSV),
)
async def get_ratings(
    services: ServicesDep, request: Request, actor: CurrentOperator, params: Params
) -> ReportRatings | Response:
    found = await _report(services, actor, params, ratings_report)
    if not _wants_csv(request, params):
        return found
    rows = ((r["score"], r["count"]) for r in found["distribution"])
    return _csv("ratings", ["score", "count"], rows)
