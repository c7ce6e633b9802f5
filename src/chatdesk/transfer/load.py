"""``chatdesk import``: an export file into an empty database, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, Integer, Table, false, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from chatdesk.db.migrate import current_revision, upgrade
from chatdesk.db.tables import meta, metadata
from chatdesk.transfer.datafile import (
    FORMAT,
    FORMAT_VERSION,
    PLACEHOLDERS,
    RUNTIME_META_PREFIXES,
    DataFileError,
    decode_row,
    is_derived_table,
)
from chatdesk.transfer.progress import Advance, progress_bar

__all__ = ["DatabaseNotEmpty", "import_database"]

_BATCH = 1000


class DatabaseNotEmpty(Exception):
    """The target database holds data: an import only fills an empty one."""


def import_database(engine: Engine, source: Path) -> int:
    """Load ``source`` into the empty database behind ``engine`` (migrated first);
    returns the rows written. One transaction: a bad file or a failed row writes nothing."""
    upgrade(engine)
    schema = current_revision(engine)
    with source.open("rb") as handle, engine.connect() as conn:
        tables = _read_header(handle, schema)
        try:
            with conn.begin():
                _require_empty(conn)
                with progress_bar("Importing (bytes)", source.stat().st_size) as advance:
                    advance(handle.tell())  # the header
                    written = _load_rows(conn, handle, tables, advance)
                _after_load(conn)
        except SQLAlchemyError as exc:
            cause = type(getattr(exc, "orig", None) or exc).__name__
            raise DataFileError(
                f"the database refused a row ({cause}): {_first_line(exc)}"
            ) from None
    return written


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]


def _read_header(handle: IO[bytes], schema: str | None) -> dict[str, Table]:
    first = handle.readline()
    try:
        head = json.loads(first)
    except ValueError:
        raise DataFileError("line 1: not a chatdesk export (no JSON header)") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise DataFileError("line 1: not a chatdesk export (no header)")
    if head.get("version") != FORMAT_VERSION:
        raise DataFileError(
            f"export format version {head.get('version')!r}; this chatdesk reads {FORMAT_VERSION}"
        )
    if head.get("schema") != schema:
        raise DataFileError(
            f"the export was made at schema revision {head.get('schema')!r} and this database "
            f"is at {schema!r}: export and import with the same chatdesk version"
        )
    names = head.get("tables")
    if not isinstance(names, list):
        raise DataFileError("line 1: the header lists no tables")
    unknown = [name for name in names if name not in metadata.tables]
    if unknown:
        raise DataFileError(f"line 1: unknown tables {', '.join(map(str, unknown))}")
    return {name: metadata.tables[name] for name in names}


def _require_empty(conn: Connection) -> None:
    for table in metadata.sorted_tables:
        if is_derived_table(table):
            continue
        query = select(func.count()).select_from(table)
        if table is meta:
            for prefix in RUNTIME_META_PREFIXES:
                query = query.where(~meta.c.key.startswith(prefix))
        if conn.execute(query).scalar_one():
            raise DatabaseNotEmpty(
                f"the database is not empty (table {table.name} has rows): "
                "import only into a new, empty database"
            )


class _Batch:
    """Rows of one table with the same columns, inserted together."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.table: Table | None = None
        self.keys: frozenset[str] = frozenset()
        self.rows: list[dict[str, Any]] = []

    def add(self, table: Table, row: dict[str, Any]) -> None:
        keys = frozenset(row)
        if table is not self.table or keys != self.keys or len(self.rows) >= _BATCH:
            self.flush()
            self.table, self.keys = table, keys
        self.rows.append(row)

    def flush(self) -> None:
        if self.table is not None and self.rows:
            self.conn.execute(self.table.insert(), self.rows)
        self.rows = []


def _load_rows(
    conn: Connection, handle: IO[bytes], tables: dict[str, Table], advance: Advance
) -> int:
    batch = _Batch(conn)
    number = 1
    for number, raw in enumerate(handle, start=2):
        advance(len(raw))
        item = _parse(raw, number)
        if "end" in item:
            batch.flush()
            written = number - 2  # every line between the header and this one is a row
            _check_end(handle, item, written, number)
            return written
        table = tables.get(item.get("t"))  # type: ignore[arg-type]
        if table is None:
            raise DataFileError(f"line {number}: unknown table {item.get('t')!r}")
        row = decode_row(table, item.get("r"), number)
        for (name, column), value in PLACEHOLDERS.items():
            if name == table.name and column not in row:
                row[column] = value
        batch.add(table, row)
    raise DataFileError(f"the file ends at line {number} without its last line: truncated")


def _parse(raw: bytes, number: int) -> dict[str, Any]:
    if not raw.endswith(b"\n"):
        raise DataFileError(f"line {number} is cut short: the file is truncated")
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"line {number}: not JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise DataFileError(f"line {number}: not JSON (not UTF-8)") from None
    if not isinstance(item, dict):
        raise DataFileError(f"line {number}: a line must be a JSON object")
    return item


def _check_end(handle: IO[bytes], item: dict[str, Any], written: int, number: int) -> None:
    end = item["end"]
    if not isinstance(end, dict) or end.get("rows") != written:
        raise DataFileError(f"line {number}: the file announces other rows than it holds")
    if handle.read(1):
        raise DataFileError(f"line {number + 1}: data after the end of the export")


def _after_load(conn: Connection) -> None:
    """Sequences past the ids loaded (PostgreSQL), full-text indexes rebuilt (SQLite)."""
    if conn.dialect.name == "postgresql":
        for table in metadata.sorted_tables:
            key = list(table.primary_key.columns)
            if len(key) == 1 and isinstance(key[0].type, Integer) and key[0].autoincrement:
                column = key[0]
                highest = select(func.max(column)).scalar_subquery()
                sequence = func.pg_get_serial_sequence(table.name, column.name)
                conn.execute(select(func.setval(sequence, func.coalesce(highest, 0) + 1, false())))
        return
    # An external-content FTS5 index is rebuilt from its table in one statement;
    # indexes kept by triggers are already in step, and a rebuild leaves them so.
    virtual = conn.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE '%fts5%'")
    ).all()
    for name, sql in virtual:
        if "content=" in sql.replace(" ", "") and "content=''" not in sql.replace(" ", ""):
            # The name is the schema's own (sqlite_master), never the file's.
            rebuild = f'INSERT INTO "{name}"("{name}") VALUES (\'rebuild\')'  # noqa: S608
            conn.execute(text(rebuild))
