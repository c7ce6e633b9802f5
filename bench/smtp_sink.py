"""An SMTP sink for the benchmarks: aiosmtpd accepting every message, counting them.

aiosmtpd (the SMTP server the email tests use) on uvloop in a process of its own, so
that what chatdesk's sender costs is measured apart from what receiving costs.
``GET /count`` on the second port answers the number of messages accepted (the
protocol of ``bench/receiver.py``, so the benches read both the same way).

    python bench/smtp_sink.py SMTP_PORT COUNT_PORT
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import uvloop
from aiosmtpd.smtp import SMTP, Envelope, Session

COUNT = {"messages": 0, "bytes": 0}


class Handler:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        COUNT["messages"] += 1
        COUNT["bytes"] += len(envelope.original_content or envelope.content or b"")
        return "250 OK"


class Counter(asyncio.Protocol):
    """Answers ``GET /count`` (and ``GET /bytes``) on keep-alive connections."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's is not an asyncio.Transport subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end].lower(), self.buffer[end + 4 :]
            key = "bytes" if head.startswith(b"get /bytes") else "messages"
            body = str(COUNT[key]).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )


async def main(smtp_port: int, count_port: int) -> None:
    loop = asyncio.get_running_loop()
    handler = Handler()
    # A fixed host name: aiosmtpd would otherwise ask the resolver for this machine's.
    smtp = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.bench", loop=loop), "127.0.0.1", smtp_port
    )
    counter = await loop.create_server(Counter, "127.0.0.1", count_port)
    async with smtp, counter:
        await asyncio.gather(smtp.serve_forever(), counter.serve_forever())


if __name__ == "__main__":
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2])))
