"""Where an email's CPU goes in the sender: rendering it, and handing it to the server.

    .venv/bin/python bench/email_sender.py            # about 20 seconds
    .venv/bin/python bench/email_sender.py --count 200

In this process, CPU time per email (``time.process_time``) of the parts of
``jobs/email.py``'s send, beside the SMTP sink of ``bench/smtp_sink.py`` in a process
of its own:

- compose: ``Composer.compose`` (text and HTML from the Jinja templates, the MIME
  message and its headers) for a transcript of five messages;
- send, one connection each: ``SmtpTransport.deliver``, what the sender does (connect,
  EHLO, MAIL, RCPT, DATA, QUIT), sixteen at once as the worker's default concurrency;
- send, one kept connection: the same messages over one ``aiosmtplib.SMTP`` connection,
  one after another (what a pool of connections would cost instead).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
import uvloop

from chatdesk.ids import new_id
from chatdesk.jobs.email_render import Composer, Letterhead
from chatdesk.jobs.smtp import SmtpTransport
from chatdesk.queries.email import EmailPlan, MailMessage
from chatdesk.smtp_url import parse_smtp_url
from outbox import received
from servers import BENCH_DIR, free_port

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def plan() -> EmailPlan:
    lines = [
        ("Vera", "Hello, where is my order? It has not arrived yet.", False),
        ("Sam from Support", "Let me look. What is the order number?", True),
        ("Vera", "It is 10432, placed last Monday.", False),
        ("Sam from Support", "It left our warehouse yesterday; tracking: ZX-88213.", True),
        ("Vera", "Thank you!", False),
    ]
    messages = [
        MailMessage(author, body, NOW - timedelta(minutes=10 - i), mine=not staff)
        for i, (author, body, staff) in enumerate(lines)
    ]
    return EmailPlan(
        template="transcript",
        audience="visitor",
        to_address="vera@example.org",
        to_name="Vera Lind",
        conversation_id=new_id(),
        visitor_id=new_id(),
        site_name="Northwind Shop",
        accent_color="#2563eb",
        visitor_name="Vera Lind",
        visitor_email="vera@example.org",
        visitor_timezone="Europe/Oslo",
        page_url="https://shop.example.com/orders",
        messages=messages,
    )


def per_item_us(seconds: float, count: int) -> float:
    return seconds / count * 1e6


async def send_each(transport: SmtpTransport, messages: list[Any], concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)

    async def one(message: Any) -> None:
        async with slots:
            await transport.deliver(message)

    await asyncio.gather(*(one(m) for m in messages))


async def send_kept(port: int, messages: list[Any]) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    try:
        for message in messages:
            await client.send_message(message)
    finally:
        await client.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    count = args.count
    smtp_port, count_port = free_port(), free_port()
    sink = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "smtp_sink.py"), str(smtp_port), str(count_port)]
    )
    try:
        time.sleep(1.0)
        composer = Composer(
            Letterhead(
                sender="Support <help@shop.example.com>",
                base_url="https://chat.example.com",
                secret="bench-secret-not-a-real-one-0123456789",
                inbound_domain=None,
            )
        )
        the_plan = plan()
        composer.compose(the_plan, "msg_warmup", NOW)  # templates loaded and compiled once
        started = time.process_time()
        messages = [composer.compose(the_plan, f"msg_{i:026d}", NOW) for i in range(count)]
        compose = time.process_time() - started
        size = len(messages[0].as_bytes())

        transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{smtp_port}"))
        before = received(count_port)
        started, wall = time.process_time(), time.perf_counter()
        uvloop.run(send_each(transport, messages, 16))
        each = time.process_time() - started
        each_wall = time.perf_counter() - wall
        started, wall = time.process_time(), time.perf_counter()
        uvloop.run(send_kept(smtp_port, messages))
        kept = time.process_time() - started
        kept_wall = time.perf_counter() - wall
        arrived = received(count_port) - before
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    print(f"chatdesk email sender parts, {count:,} transcripts of {size:,} bytes")
    print(f"  compose (Jinja text + HTML, MIME):     {per_item_us(compose, count):>6,.0f} us/email")
    print(
        f"  send, a connection each (16 at once):  {per_item_us(each, count):>6,.0f} us/email"
        f" of this process's CPU, {count / each_wall:,.0f} emails/s"
    )
    print(
        f"  send, one kept connection:             {per_item_us(kept, count):>6,.0f} us/email"
        f" of this process's CPU, {count / kept_wall:,.0f} emails/s"
    )
    print(f"  the sink accepted {arrived:,} of {2 * count:,}")


if __name__ == "__main__":
    main()
