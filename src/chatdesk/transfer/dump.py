"""``chatdesk export``: every table as JSON lines, from one consistent snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from sqlalchemy import Column, Connection, Engine, Select, Table, func, select

from chatdesk.db.migrate import current_revision
from chatdesk.db.tables import meta
from chatdesk.transfer.datafile import (
    RUNTIME_META_PREFIXES,
    encode_line,
    encode_row,
    exported_columns,
    exported_tables,
    header,
)
from chatdesk.transfer.progress import Advance, progress_bar

__all__ = ["export_database"]

_BATCH = 2000


def export_database(engine: Engine, output: Path, *, secrets: bool = False) -> int:
    """Write the database behind ``engine`` to ``output``; returns the rows written.

    Every row is read in one read-only transaction (a snapshot on both databases), so
    a server may go on writing meanwhile. The file is written beside ``output`` and
    renamed over it once complete: a failed export leaves no half file behind.
    """
    schema = current_revision(engine)
    tables = exported_tables(secrets=secrets)
    partial = output.with_name(output.name + ".partial")
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin(), partial.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(encode_line(header(schema, secrets=secrets, tables=tables)))
            total = sum(_count(conn, table) for table in tables)
            written = 0
            with progress_bar("Exporting", total) as advance:
                for table in tables:
                    written += _write_table(conn, table, handle, secrets=secrets, advance=advance)
            handle.write(encode_line({"end": {"rows": written}}))
    partial.replace(output)
    return written


def _query(table: Table, columns: list[Column[Any]]) -> Select[Any]:
    query = select(*columns).order_by(*table.primary_key.columns)
    if table is meta:
        for prefix in RUNTIME_META_PREFIXES:
            query = query.where(~meta.c.key.startswith(prefix))
    return query


def _count(conn: Connection, table: Table) -> int:
    rows = _query(table, list(table.primary_key.columns)).subquery()
    return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())


def _write_table(
    conn: Connection, table: Table, handle: IO[str], *, secrets: bool, advance: Advance
) -> int:
    columns = exported_columns(table, secrets=secrets)
    result = conn.execution_options(yield_per=_BATCH).execute(_query(table, columns))
    written = 0
    for batch in result.partitions():
        handle.write("".join(encode_row(table.name, columns, row) for row in batch))
        written += len(batch)
        advance(len(batch))
    return written
