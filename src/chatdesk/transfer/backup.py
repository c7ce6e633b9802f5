"""``chatdesk backup``: a consistent copy of a live SQLite database (the online backup API)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatdesk.transfer.progress import progress_bar

__all__ = ["PG_BACKUP_HELP", "backup_sqlite"]

PG_BACKUP_HELP = """\
chatdesk backup copies a SQLite database. PostgreSQL has its own tools, which copy a
live database consistently too:

  pg_dump --format=custom --file=chatdesk.dump "$DATABASE_URL"
  pg_restore --no-owner --dbname="$NEW_DATABASE_URL" chatdesk.dump

(a URL for pg_dump is postgresql://..., without SQLAlchemy's "+psycopg"). To move to
another kind of database instead, use chatdesk export and chatdesk import."""


def backup_sqlite(database: str, output: Path, *, step_pages: int = 1024) -> int:
    """Copy the SQLite file ``database`` to ``output`` while others write to it; returns
    the pages copied. The copy is made from one read transaction held for the whole
    backup, so it is the database as of its start (in WAL mode writers go on meanwhile,
    and the backup never starts over because of them). ``output`` appears complete or
    not at all."""
    partial = output.with_name(output.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
    target = sqlite3.connect(partial, isolation_level=None)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.execute("BEGIN")
        # The snapshot is taken by the first read, and kept until the COMMIT below.
        total = source.execute("PRAGMA page_count").fetchone()[0]
        with progress_bar("Backing up", total) as advance:
            copied = 0

            def step(_status: int, remaining: int, pages: int) -> None:
                nonlocal copied
                advance(pages - remaining - copied)
                copied = pages - remaining

            source.backup(target, pages=step_pages, progress=step)
        source.execute("COMMIT")
        check = target.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"the copy fails its check: {check}")
    finally:
        target.close()
        source.close()
    partial.replace(output)
    return int(total)
