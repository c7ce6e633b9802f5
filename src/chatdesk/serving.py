"""The server process: what ``chatdesk serve`` becomes once it has prepared the database.

``chatdesk serve`` checks the settings, migrates a SQLite file, creates the first
owner and prints its links, then replaces itself with this module in a fresh
interpreter (:func:`replace_process`: same process id, same standard streams).
Every module a long-lived process imports stays in its memory: the server so
holds neither the command line's modules (typer) nor what preparing the
database left behind. Its settings come from the environment, as the
command's did; ``--host`` and ``--port`` travel as ``CHATDESK_HOST`` and
``CHATDESK_PORT``.

On SQLite, the writer process is forked first (ADR 0011), once the data layer is
imported and before the app is: the two processes share SQLAlchemy's pages,
and the child's memory holds nothing of the web stack.

    python -m chatdesk.serving      # what ``chatdesk serve`` runs; nothing else is done
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import sys
from typing import TYPE_CHECKING

from chatdesk.settings import Settings

if TYPE_CHECKING:
    from chatdesk.realtime.hub import Hub

__all__ = ["SHUTDOWN_GRACE_SECONDS", "main", "replace_process"]

# Parked readers are answered at once on SIGTERM; this bounds what is left (a slow
# request, an upload) so that the process exits within 5 s in any case.
SHUTDOWN_GRACE_SECONDS = 3


def replace_process(host: str, port: int) -> None:
    """Become the server (never returns): this process runs :func:`main` instead."""
    os.environ["CHATDESK_HOST"] = host
    os.environ["CHATDESK_PORT"] = str(port)
    sys.stdout.flush()  # what was printed must not be lost with this process's buffers
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "chatdesk.serving"])  # noqa: S606


def main() -> None:
    """Serve until SIGTERM or SIGINT, then stop within ``SHUTDOWN_GRACE_SECONDS``."""
    settings = Settings()
    if settings.is_sqlite and settings.sqlite_writer == "process":
        _fork_writer(settings)
    _serve(settings)


def _fork_writer(settings: Settings) -> None:
    """Fork SQLite's writer process while this one holds only the data layer: the
    writer's modules and those of the units it runs (every write is in actions/, and the
    outbox's in jobs/outbox.py, jobs/dispatch.py and jobs/marks.py)."""
    import chatdesk.actions
    from chatdesk.db import writer_pipe
    from chatdesk.db.writer_process import absolute_sqlite_url

    importlib.import_module("chatdesk.db.writer_child")
    for module in pkgutil.iter_modules(chatdesk.actions.__path__):
        importlib.import_module(f"{chatdesk.actions.__name__}.{module.name}")
    # The outbox's units (claims, outcomes, the webhook dispatcher, the email sender's
    # mark); not its senders.
    importlib.import_module("chatdesk.jobs.dispatch")
    importlib.import_module("chatdesk.jobs.marks")
    gc.collect()
    gc.freeze()  # see _serve
    log_config = (settings.log_format, settings.log_level, settings.is_production)
    url = absolute_sqlite_url(settings.database_url)
    writer_pipe.fork_ahead(url, settings.write_batch_max, log_config)


def _serve(settings: Settings) -> None:
    import asyncio
    import signal
    import socket
    from types import FrameType

    import uvicorn

    from chatdesk.app import create_app
    from chatdesk.web.http_protocol import bounded_protocol

    class Server(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
            super().__init__(config)
            self.hub = hub

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # As uvicorn's, without re-raising the signal once stopped: a stop the
            # server completed is a clean exit (code 0), as supervisors expect.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            else:
                self.should_exit = True

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn closes the listening sockets and marks every connection to close
            # after its response, then waits for the connections to end (a parked
            # long-poll or stream would hold it for its whole wait). The hub lets the
            # parked readers go at the first pause, after that marking.
            asyncio.get_running_loop().call_soon(self.hub.release)
            await super().shutdown(sockets)

    chatdesk = create_app(settings)
    config = uvicorn.Config(
        chatdesk,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        ws="none",  # chatdesk has no WebSocket route: the protocol need not be loaded
        # httptools, with the request head bounded (web/http_protocol.py).
        http=bounded_protocol(settings.max_header_bytes, settings.max_header_count),
    )
    # What is built by now (modules, the app, its routes) lives as long as the server:
    # frozen, the collector never walks it again, so its pages stay shared with the
    # writer process instead of being copied apart (and a full collection is shorter).
    gc.collect()
    gc.freeze()
    Server(config, chatdesk.state.services.hub).run()


if __name__ == "__main__":
    main()
