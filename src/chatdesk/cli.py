"""The ``chatdesk`` command: serve, migrate, create-operator, create-site, demo, export,
import, backup, purge, totp-reset."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Commands import what they need inside them: each pays only for what it uses
# (pydantic-settings alone is about 15 MiB). Output goes through typer's own echo and
# style: rich's console is about 4 MiB to print a few lines. ``serve`` hands over to a
# fresh interpreter once the database is prepared (chatdesk.serving).
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from chatdesk.db.runner import Database
    from chatdesk.settings import Settings
    from chatdesk.storage.base import FileStore

__all__ = ["app", "main"]

app = typer.Typer(help="chatdesk: self-hosted live chat for websites.", no_args_is_help=True)


def _say(line: str = "", *, err: bool = False) -> None:
    """One line of output, as is: never wrapped (a path or a snippet broken in two cannot
    be copied), styles dropped where the output is not a terminal."""
    typer.echo(line, err=err)


def _bold(text: str) -> str:
    return typer.style(text, bold=True)


def _settings() -> Settings:
    """The settings from the environment; a bad value ends the command with one line."""
    from pydantic import ValidationError

    from chatdesk.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        # Never the value itself: it may be a secret.
        problems = "; ".join(
            f"CHATDESK_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise _fail(f"invalid setting: {problems}") from None


@contextmanager
def _database(settings: Settings, *, migrate: bool = True) -> Iterator[Database]:
    from chatdesk.bootstrap import ensure_schema
    from chatdesk.db.runner import Database

    db = Database(settings.database_url, read_threads=1)
    ensure_schema(db.write_engine, auto=migrate)
    db.start()
    try:
        yield db
    finally:
        db.stop()


def _fail(message: str) -> typer.Exit:
    _say(f"{typer.style('error:', fg='red')} {message}", err=True)
    return typer.Exit(code=1)


FIRST_OWNER_FILE = "chatdesk-first-owner.txt"


def _first_owner_file(settings: Settings) -> Path:
    """Beside the SQLite database, or in the working directory for PostgreSQL."""
    from chatdesk.settings import sqlite_path

    database = sqlite_path(settings.database_url)
    return (Path(database).parent if database else Path.cwd()) / FIRST_OWNER_FILE


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable and writable by this user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its mode otherwise
        handle.write(text)


def _announce_first_owner(email: str, password: str, settings: Settings, url: str) -> None:
    """Show the first owner's password on a terminal only: anywhere else standard output
    ends up in log collection, so it goes to a file only this user can read."""
    _say("\n  First start: an owner account was created. Sign in with")
    _say(f"    email:    {_bold(email)}")
    if sys.stdout.isatty():
        _say(f"    password: {_bold(password)}")
        _say("  This password is shown only once; change it under Account:")
        _say(f"    {url}/admin/account\n")
        return
    path = _first_owner_file(settings)
    try:
        _write_private(path, f"email: {email}\npassword: {password}\n")
    except OSError as exc:
        _say(
            f"  The password could not be written to {path} ({exc.strerror}). Add an owner "
            "with: chatdesk create-operator --role owner --password-stdin ...",
            err=True,
        )
        return
    _say(f"    password: in {path} (readable by this user only)")
    _say("  Delete that file once you have signed in, and change it under Account:")
    _say(f"    {url}/admin/account\n")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind")] = None,
) -> None:
    """Run the server (migrates a SQLite database automatically)."""
    from chatdesk.bootstrap import create_first_owner
    from chatdesk.serving import replace_process

    settings = _settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    problems = settings.production_problems()
    if problems:
        raise _fail("refusing to start:\n- " + "\n- ".join(problems))
    url = _base_url(settings)
    if settings.is_sqlite:
        _migrate_apart(settings)
    with _database(settings, migrate=settings.is_sqlite) as db:
        first = create_first_owner(db, url)
    _say(f"\n  chatdesk is running at {_bold(url)}")
    if settings.public_url is None and settings.host in _WILDCARDS:
        _say(
            f"  (listening on every address of this machine, port {settings.port}; "
            "set CHATDESK_PUBLIC_URL to the URL people use)"
        )
    _say(f"  Console:   {url}/admin")
    if settings.demo_on:
        _say(f"  Demo page: {url}/demo")
    if settings.api_docs_on:
        _say(f"  API docs:  {url}/api/docs")
    if first is not None:
        _announce_first_owner(first.email, first.password, settings, url)
    else:
        _say("  Sign in with an operator account (chatdesk create-operator adds one).\n")
    # The server proper runs in a fresh interpreter, in this same process: it need not
    # keep this command's modules or what preparing the database left (chatdesk.serving).
    replace_process(settings.host, settings.port)


# A bind to every address is shown as loopback: reachable from this machine at least.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def _base_url(settings: Settings) -> str:
    """The URL printed links start with: ``CHATDESK_PUBLIC_URL``, else the address served
    (``serve --host/--port``, else ``CHATDESK_HOST``/``CHATDESK_PORT``)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = _WILDCARDS.get(settings.host, settings.host)
    if ":" in host:  # an IPv6 address goes in brackets in a URL
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _migrate_apart(settings: Settings) -> None:
    """Run ``chatdesk migrate`` in a process of its own if the schema is not current.

    Alembic loads every SQL dialect, Mako and Pygments lexers (about 10 MiB), which a
    server that migrated in its own process would keep for its whole life.
    """
    from chatdesk.bootstrap import schema_is_current
    from chatdesk.db.engine import make_engine

    engine = make_engine(settings.database_url, writer=True)
    try:
        current = schema_is_current(engine)
    finally:
        engine.dispose()
    if current:
        return
    done = subprocess.run(  # our own command, on this interpreter
        [sys.executable, "-m", "chatdesk.cli", "migrate"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise _fail(f"migrating the database failed:\n{done.stderr.strip()}")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from chatdesk.db.engine import make_engine
    from chatdesk.db.migrate import ForeignKeyViolations, upgrade

    settings = _settings()
    engine = make_engine(settings.database_url, writer=True)
    try:
        upgrade(engine)
    except ForeignKeyViolations as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    _say("Database schema is current.")


@app.command("create-operator")
def create_operator_command(
    email: Annotated[str, typer.Option(help="Sign-in email")],
    name: Annotated[str, typer.Option(help="Display name")],
    role: Annotated[str, typer.Option(help="owner, admin or agent")] = "agent",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create an operator. The password is read from stdin (never from the command line)."""
    from pydantic import ValidationError

    from chatdesk.actions.operators import create_operator
    from chatdesk.errors import ChatdeskError
    from chatdesk.security.passwords import hash_password
    from chatdesk.web.schemas import OperatorIn

    if not password_stdin:
        raise _fail("pass --password-stdin and pipe the password in")
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        body = OperatorIn.model_validate(
            {"email": email, "name": name, "role": role, "password": password}
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(problems) from None
    assert body.password is not None  # given above: the model requires none, the CLI one
    password_hash = hash_password(body.password)
    with _database(_settings()) as db:
        try:
            shape = db.write_sync(
                create_operator,
                None,
                email=body.email,
                name=body.name,
                role=body.role,
                password_hash=password_hash,
            )
        except ChatdeskError as exc:
            raise _fail(exc.message) from None
    _say(f"Created {shape['role']} {shape['email']} (id {shape['id']}).")


@app.command("create-site")
def create_site_command(
    name: Annotated[str, typer.Option(help="Site name")],
    origin: Annotated[
        list[str], typer.Option(help="Allowed origin, e.g. https://shop.example.com (repeatable)")
    ],
) -> None:
    """Create a site and print its public site key and embed snippet."""
    from pydantic import ValidationError

    from chatdesk.actions.sites import create_site
    from chatdesk.web.schemas import SiteIn

    try:
        body = SiteIn(name=name, allowed_origins=origin)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(problems) from None
    settings = _settings()
    with _database(settings) as db:
        fields = body.columns()
        shape = db.write_sync(create_site, None, fields)
    base = _base_url(settings)
    _say(f"Site key: {shape['site_key']}")
    _say("Embed it with:")
    _say(f'  <script src="{base}/widget.js" data-site="{shape["site_key"]}" async></script>')


@app.command()
def demo() -> None:
    """Add a demo site, its operators and a few conversations so the inbox is not empty.

    Run again, it gives the demo operators new passwords and prints them: the demo
    always has an owner to sign in as.
    """
    from chatdesk.demo import seed_demo
    from chatdesk.errors import ChatdeskError

    settings = _settings()
    if not settings.demo_on:
        # It prints an owner's password: not for a production database.
        raise _fail("the demo is off here (CHATDESK_ENV=production or CHATDESK_DEMO_ENABLED)")
    with _database(settings) as db:
        try:
            report = seed_demo(db, _base_url(settings))
        except ChatdeskError as exc:
            raise _fail(exc.message) from None
    for line in report:
        _say(line)


@app.command()
def export(
    output: Annotated[Path, typer.Option(help="File to write (JSON lines)")] = Path(
        "chatdesk-export.jsonl"
    ),
    include_secrets: Annotated[
        bool,
        typer.Option(
            "--include-secrets",
            help="Also write password hashes, token hashes, TOTP, identity and webhook secrets",
        ),
    ] = False,
) -> None:
    """Export every table as JSON lines, from one consistent snapshot (docs/deploy.md)."""
    from chatdesk.db.engine import make_engine
    from chatdesk.transfer.dump import export_database

    settings = _settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        if not _schema_current(engine):
            raise _fail("the database schema is not current: run chatdesk migrate first")
        rows = export_database(engine, output, secrets=include_secrets)
    finally:
        engine.dispose()
    secrets = "with" if include_secrets else "without"
    _say(f"Exported {rows} rows ({secrets} secrets) to {output}.")


def _schema_current(engine: Engine) -> bool:
    from chatdesk.bootstrap import schema_is_current

    return schema_is_current(engine)


@app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(help="An export file (chatdesk export)")],
) -> None:
    """Load an export into an empty database (SQLite or PostgreSQL), all or nothing."""
    from chatdesk.db.engine import make_engine
    from chatdesk.transfer.datafile import DataFileError
    from chatdesk.transfer.load import DatabaseNotEmpty, import_database

    if not source.is_file():
        raise _fail(f"no such file: {source}")
    settings = _settings()
    engine = make_engine(settings.database_url, pool_size=1, writer=True)
    try:
        rows = import_database(engine, source)
    except DatabaseNotEmpty as exc:
        _say(f"{typer.style('error:', fg='red')} {exc}", err=True)
        raise typer.Exit(code=EXIT_NOT_EMPTY) from None
    except DataFileError as exc:
        raise _fail(f"{source}: {exc}; nothing was imported") from None
    finally:
        engine.dispose()
    _say(f"Imported {rows} rows from {source}.")


# ``chatdesk import`` into a database that holds data: told apart from a bad file.
EXIT_NOT_EMPTY = 3


@app.command()
def backup(
    output: Annotated[Path, typer.Argument(help="File to write the copy to")],
) -> None:
    """Copy a live SQLite database consistently (PostgreSQL: pg_dump, explained)."""
    from chatdesk.settings import sqlite_path
    from chatdesk.transfer.backup import PG_BACKUP_HELP, backup_sqlite

    settings = _settings()
    database = sqlite_path(settings.database_url)
    if not database or database == ":memory:":
        _say(PG_BACKUP_HELP, err=True)
        raise typer.Exit(code=1)
    if not Path(database).is_file():
        raise _fail(f"no database at {database}")
    pages = backup_sqlite(database, output)
    _say(f"Backed up {database} ({pages} pages) to {output}.")


@app.command()
def purge(
    days: Annotated[
        int | None, typer.Option(help="Delete events and sent jobs older than this many days")
    ] = None,
) -> None:
    """Delete conversations inactive for longer than CHATDESK_RETENTION_DAYS (when set);
    old events (cursors older than the cut get 410 and refetch), and delivered or failed
    outbox jobs (webhook deliveries, emails) as old; and attachments uploaded but never
    sent within a day, and files whose conversation was deleted."""
    from chatdesk.actions.maintenance import purge_events
    from chatdesk.file_sweep import sweep_files
    from chatdesk.jobs.outbox import purge_deliveries
    from chatdesk.storage.stores import open_store

    settings = _settings()
    keep = days if days is not None else settings.event_retention_days
    with _database(settings) as db:
        store = open_store(settings)

        async def sweep() -> tuple[tuple[int, int], int, int]:
            try:
                expired = await _expire(db, store, settings.retention_days)
                return expired, *(await sweep_files(db, store, db.clock()))
            finally:
                await store.aclose()

        # On a thread of its own: whoever calls the command may have a loop running.
        with ThreadPoolExecutor(max_workers=1) as pool:
            (conversations, visitors), unsent, orphans = pool.submit(
                lambda: asyncio.run(sweep())
            ).result()
        cutoff = db.clock() - timedelta(days=keep)
        removed = db.write_sync(purge_events, cutoff)
        jobs = db.write_sync(purge_deliveries, cutoff)
    if settings.retention_days is not None:
        _say(
            f"Removed {conversations} conversations and {visitors} visitors inactive for "
            f"more than {settings.retention_days} days."
        )
    _say(f"Removed {removed} events and {jobs} sent or failed jobs older than {keep} days.")
    _say(f"Removed {unsent} attachments never sent and {orphans} files of deleted conversations.")


async def _expire(db: Database, store: FileStore, days: int | None) -> tuple[int, int]:
    """Retention, batch by batch with a progress bar: (conversations, visitors) deleted."""
    from chatdesk.actions.retention import expire_inactive, inactive_count
    from chatdesk.transfer.progress import progress_bar

    if days is None:
        return 0, 0
    now = db.clock()
    total = await asyncio.to_thread(db.read_sync, lambda conn: inactive_count(conn, days, now))
    conversations = visitors = 0
    with progress_bar("Expiring conversations", total) as advance:
        while True:
            expired = await asyncio.to_thread(db.write_sync, expire_inactive, days)
            if expired.keys:
                await store.delete(expired.keys)  # after the commit: see file_sweep.py
            conversations += expired.conversations
            visitors += expired.visitors
            advance(expired.conversations)
            if not expired.more:
                return conversations, visitors


@app.command("totp-reset")
def totp_reset(email: Annotated[str, typer.Option(help="Sign-in email of the operator")]) -> None:
    """Turn off an operator's two-factor sign-in (lost phone and recovery codes); they
    sign in with their password alone and may set it up again. Audit-logged."""
    from chatdesk.actions.totp import reset_totp

    with _database(_settings()) as db:
        was_on = db.write_sync(reset_totp, email)
    if was_on is None:
        raise _fail(f"no operator has the email {email}")
    if not was_on:
        _say(f"{email} had no two-factor authentication on; nothing changed.")
        return
    _say(f"Two-factor authentication is off for {email}: they sign in with their password")
    _say("alone now, and can set it up again under Account.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
