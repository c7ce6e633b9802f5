"""The export file's format, shared by the export and the import (ADR 0027).

JSON lines, UTF-8. The first line is the header::

    {"format": "chatdesk-export", "version": 1, "schema": "<migration revision>",
     "secrets": false, "tables": ["sites", ...]}

then one line per row, ``{"t": "<table>", "r": {"<column>": value, ...}}``, tables in
foreign-key order and rows in primary-key order, and last the trailer
``{"end": {"rows": <count>}}`` (a file cut at a line boundary is told from a whole one).
Timestamps are ISO 8601 in UTC; JSON columns are their JSON value. The same data gives
the same bytes, whatever the database it was read from.

What is written is derived from the tables in ``db/tables.py``: every table, every
column, except what is *derived* (computed columns, full-text indexes: rebuilt by the
database from the rest) and, without ``--include-secrets``, the *secrets* listed here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, Date, DateTime, Table
from sqlalchemy.dialects.postgresql import TSVECTOR

from chatdesk.db.tables import metadata

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PLACEHOLDERS",
    "RUNTIME_META_PREFIXES",
    "SECRET_COLUMNS",
    "SECRET_TABLES",
    "DataFileError",
    "decode_row",
    "encode_line",
    "encode_row",
    "exported_columns",
    "exported_tables",
    "header",
    "is_derived_column",
    "is_derived_table",
]

FORMAT = "chatdesk-export"
FORMAT_VERSION = 1

# Tables made only of credentials: without --include-secrets they are left out whole
# (an operator signs in again, a visitor's widget starts a new session, tokens are
# issued anew).
SECRET_TABLES = frozenset(
    {
        "operator_sessions",  # session token hashes and CSRF tokens
        "api_tokens",  # API token hashes
        "operator_recovery_codes",  # two-factor recovery code hashes
        "operator_tokens",  # password reset / invitation token hashes
        "visitor_tokens",  # visitor session token hashes
        "identity_token_uses",  # replay guard of identity tokens, worthless without them
        "webauthn_challenges",  # passkey ceremonies' challenge hashes, alive five minutes
    }
)

# Secret columns of tables that are otherwise carried: left out without --include-secrets.
SECRET_COLUMNS = frozenset(
    {
        ("operators", "password_hash"),
        ("operator_totp", "secret"),
        ("operator_totp", "pending_secret"),
        ("sites", "identity_secret"),
        ("webhooks", "secret"),
    }
)

# What the import writes for a required secret column the file left out: a value that
# opens nothing. An operator without a password hash signs in after a password reset
# (or ``chatdesk create-operator`` anew); a webhook without its secret gets a new one
# from the console before it is turned back on.
PLACEHOLDERS: Mapping[tuple[str, str], str] = {
    ("operators", "password_hash"): "!",  # never a valid argon2 hash: no password matches
    ("webhooks", "secret"): "!",  # not a whsec_ secret: rotate it before use
}

# ``meta`` rows that are one running process's state, not data: the scheduler's lease.
RUNTIME_META_PREFIXES = ("lease:",)

# The names of full-text index tables, should one be declared in ``tables.py``.
_DERIVED_TABLE_SUFFIXES = ("_fts", "_search")


class DataFileError(Exception):
    """The file is not an export this version can import; the message says why."""


def is_derived_table(table: Table) -> bool:
    """Rebuilt by the database from other tables (a full-text index): never exported."""
    return bool(table.info.get("derived")) or table.name.endswith(_DERIVED_TABLE_SUFFIXES)


def is_derived_column(column: Column[Any]) -> bool:
    """Computed by the database from other columns: never exported, never inserted."""
    return (
        column.computed is not None
        or bool(column.info.get("derived"))
        or isinstance(column.type, TSVECTOR)
    )


def exported_tables(*, secrets: bool) -> list[Table]:
    """The tables an export holds, parents before children (foreign-key order)."""
    return [
        table
        for table in metadata.sorted_tables
        if not is_derived_table(table) and (secrets or table.name not in SECRET_TABLES)
    ]


def exported_columns(table: Table, *, secrets: bool) -> list[Column[Any]]:
    return [
        column
        for column in table.columns
        if not is_derived_column(column)
        and (secrets or (table.name, column.name) not in SECRET_COLUMNS)
    ]


def header(schema: str | None, *, secrets: bool, tables: Iterable[Table]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "schema": schema,
        "secrets": secrets,
        "tables": [table.name for table in tables],
    }


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLite hands timestamps back naive (they are stored in UTC), PostgreSQL aware.
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def encode_line(item: Mapping[str, Any]) -> str:
    """One line of the file, newline included; the same item always gives the same bytes."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def encode_row(table: str, columns: list[Column[Any]], row: Iterable[Any]) -> str:
    values = {column.name: _encode_value(value) for column, value in zip(columns, row, strict=True)}
    return encode_line({"t": table, "r": values})


def decode_row(table: Table, values: Any, line: int) -> dict[str, Any]:
    """A row of the file as values to insert into ``table``; unknown columns are refused."""
    if not isinstance(values, dict):
        raise DataFileError(f"line {line}: a row must be a JSON object")
    row: dict[str, Any] = {}
    for name, value in values.items():
        column = table.columns.get(name)
        if column is None or is_derived_column(column):
            raise DataFileError(f"line {line}: table {table.name} has no column {name!r}")
        row[name] = _decode_value(column, value, line)
    return row


def _decode_value(column: Column[Any], value: Any, line: int) -> Any:
    if value is None:
        return None
    try:
        if isinstance(column.type, DateTime):
            return datetime.fromisoformat(value)
        if isinstance(column.type, Date):
            return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise DataFileError(f"line {line}: {column.name} is not a timestamp: {value!r}") from None
    return value
