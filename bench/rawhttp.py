"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for loopback benchmarks only.

httpx spends more CPU per request than the server under test does on a bare
endpoint; on a 2-core machine that would measure the client. This client does
just enough HTTP/1.1 for chatdesk's API: Content-Length and chunked bodies,
and an incremental reader for Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Conn", "Response", "SseReader"]

LOOPBACK = "127.0.0.1"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Conn:
    """One keep-alive connection; one request at a time."""

    def __init__(self, port: int, host: str = LOOPBACK) -> None:
        if host != LOOPBACK:
            raise ValueError("the benchmark only talks to loopback")
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.reader = None

    def send(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> None:
        assert self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"content-length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.writer.write(head + body if body is not None else head)

    async def read_head(self) -> tuple[int, dict[str, str], dict[str, str]]:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        cookies: dict[str, str] = {}
        for line in header_lines:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                key, _, rest = value.partition("=")
                cookies[key] = rest.split(";", 1)[0]
            headers[name] = value
        return status, headers, cookies

    async def read_chunk(self) -> bytes:
        """One chunk of a chunked body; b"" at the end of the body."""
        assert self.reader is not None
        size_line = await self.reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        data = await self.reader.readexactly(size + 2)
        return data[:-2]

    async def read_body(self, headers: dict[str, str]) -> bytes:
        assert self.reader is not None
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            for _ in range(1_000_000):
                chunk = await self.read_chunk()
                if not chunk:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(chunk)
            return b"".join(parts)
        return b""

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        if self.writer is None:
            await self.open()
        self.send(method, path, headers, body)
        status, response_headers, cookies = await self.read_head()
        data = await self.read_body(response_headers)
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, response_headers, cookies, data)


class SseReader:
    """Splits a chunked text/event-stream body into events (dicts of field -> value)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.buffer = b""

    async def next_events(self) -> list[dict[str, str]] | None:
        """The complete events in the next chunk(s); None when the stream ended."""
        for _ in range(10_000):
            chunk = await self.conn.read_chunk()
            if not chunk:
                return None
            self.buffer += chunk
            if b"\n\n" in self.buffer:
                break
        *complete, self.buffer = self.buffer.split(b"\n\n")
        found = []
        for block in complete:
            fields: dict[str, str] = {}
            for line in block.decode().split("\n"):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
            if fields:
                found.append(fields)
        return found
