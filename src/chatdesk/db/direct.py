"""Core statements compiled once per dialect and run straight on the driver's cursor.

The message path runs the same handful of statements for every message. Through
``Connection.execute`` each costs 40 to 80 µs of Python (execution context, events,
result wrapping) against 3 to 20 µs on the driver's cursor, and a SAVEPOINT pair
through ``begin_nested`` about 145 µs against 2 µs (measured in docs/performance.md).
A :class:`Direct` statement is still written with SQLAlchemy Core against the
tables of :mod:`chatdesk.db.tables`: it is compiled by SQLAlchemy for the
connection's dialect, and its parameters go through the same bind processors
SQLAlchemy applies (datetimes, booleans, JSON), so the rows are exactly those
``Connection.execute`` would write. Only the per-call machinery is skipped.

Use it for plain statements whose result columns need no conversion (strings and
integers); anything else goes through ``Connection.execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

__all__ = ["Direct", "cursor_of"]

_Processor = Callable[[Any], Any]


class _Prepared:
    __slots__ = ("defaults", "positional", "sql", "steps")

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, columns: tuple[str, ...] | None
    ) -> None:
        compiled: SQLCompiler = statement.compile(  # type: ignore[assignment]
            dialect=dialect, column_keys=list(columns) if columns is not None else None
        )
        self.sql: str = compiled.string
        self.positional: bool = bool(dialect.positional)
        names = tuple(compiled.positiontup or ()) if self.positional else tuple(compiled.binds)
        # Literal values inside the statement (the 1 of ``unread_count + 1``).
        self.defaults: dict[str, Any] = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        # (parameter name, SQLAlchemy's bind processor for its type, or None), in order.
        self.steps: list[tuple[str, _Processor | None]] = []
        for name in names:
            bind = compiled.binds[name]
            processor: _Processor | None = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None and isinstance(bind.type, DateTime):
                processor = _shared_memo(dialect.name, bind.type, processor)
            self.steps.append((name, processor))

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self.defaults:
            values = {**self.defaults, **values}
        if self.positional:
            return tuple([p(values[n]) if p else values[n] for n, p in self.steps])
        return {n: p(values[n]) if p else values[n] for n, p in self.steps}


_MEMOS: dict[tuple[str, str], _Processor] = {}


def _shared_memo(dialect_name: str, type_: Any, processor: _Processor) -> _Processor:
    """One memo per dialect and type (``DateTime(timezone=True)``), shared by every
    statement and column binding it: a unit's ``now`` is then formatted once."""
    key = (dialect_name, repr(type_))
    memo = _MEMOS.get(key)
    if memo is None:
        memo = _MEMOS[key] = _last_value_memo(processor)
    return memo


def _last_value_memo(processor: _Processor) -> _Processor:
    """``processor`` remembering its last input: a unit binds the same ``now`` several times."""
    # One (input, output) pair, replaced whole: safe with writers of several databases.
    last: list[tuple[Any, Any]] = [(object(), None)]

    def process(value: Any) -> Any:
        seen, result = last[0]
        if value is not seen:
            result = processor(value)
            last[0] = (value, result)
        return result

    return process


def cursor_of(conn: Connection) -> Any:
    """A new DBAPI cursor on ``conn``'s connection, inside its current transaction."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


class Direct:
    """One Core statement with bound parameters, compiled once per dialect.

    ``columns`` names the columns an INSERT or UPDATE sets from parameters of the
    same names (SQLAlchemy's ``column_keys``). Every parameter must be given a
    value on each call.
    """

    def __init__(self, statement: ClauseElement, columns: tuple[str, ...] | None = None) -> None:
        self.statement = statement
        self.columns = columns
        self._prepared: dict[str, _Prepared] = {}

    def _for(self, dialect: Dialect) -> _Prepared:
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            prepared = _Prepared(self.statement, dialect, self.columns)
            self._prepared[dialect.name] = prepared
        return prepared

    def run(self, cursor: Any, dialect: Dialect, values: Mapping[str, Any]) -> Any:
        """Execute on ``cursor`` (from :func:`cursor_of`); returns the cursor."""
        prepared = self._for(dialect)
        cursor.execute(prepared.sql, prepared.parameters(values))
        return cursor

    def run_many(self, cursor: Any, dialect: Dialect, rows: Sequence[Mapping[str, Any]]) -> Any:
        """Execute once per row of ``rows`` (the driver's ``executemany``)."""
        prepared = self._for(dialect)
        cursor.executemany(prepared.sql, [prepared.parameters(values) for values in rows])
        return cursor
