"""Whole seconds between two timestamps, in SQL, for each dialect we run on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

__all__ = ["quarter_hour", "seconds_between"]


class seconds_between(FunctionElement[int]):
    """``later - earlier`` in whole seconds (rounded), as an integer expression."""

    type = Integer()
    inherit_cache = True
    name = "seconds_between"

    def __init__(self, earlier: ColumnElement[Any], later: ColumnElement[Any]) -> None:
        super().__init__(earlier, later)


@compiles(seconds_between)
def _sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    # SQLite stores timestamps as ISO text; julianday() reads it (microseconds kept).
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(ROUND((julianday({later}) - julianday({earlier})) * 86400.0) AS INTEGER)"


@compiles(seconds_between, "postgresql")
def _postgresql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    earlier, later = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(ROUND(EXTRACT(EPOCH FROM ({later} - {earlier}))) AS INTEGER)"


class quarter_hour(FunctionElement[int]):
    """The UTC quarter-hour a timestamp falls in, counted from 1970 (for grouping)."""

    type = Integer()
    inherit_cache = True
    name = "quarter_hour"

    def __init__(self, moment: ColumnElement[Any]) -> None:
        super().__init__(moment)


@compiles(quarter_hour)
def _sqlite_quarter(element: quarter_hour, compiler: Any, **kw: Any) -> str:
    (moment,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(strftime('%s', {moment}) AS INTEGER) / 900)"


@compiles(quarter_hour, "postgresql")
def _postgresql_quarter(element: quarter_hour, compiler: Any, **kw: Any) -> str:
    (moment,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {moment}) / 900) AS BIGINT)"
