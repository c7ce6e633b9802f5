"""A webhook receiver for the benchmarks: answers every POST 204 and counts them.

As cheap as a receiver can be (an asyncio protocol, no framework), so that on a
two-core machine it takes as little as possible from chatdesk. ``GET /count`` answers
the number of POSTs received; ``GET /ids`` how many distinct ``webhook-id`` values.

    python bench/receiver.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop

COUNT = {"posts": 0}
IDS: set[bytes] = set()
NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


class Receiver(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's is not an asyncio.Transport subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            webhook_id = b""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    webhook_id = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith(b"get /count"):
                self._answer(str(COUNT["posts"]).encode())
            elif head.startswith(b"get /ids"):
                self._answer(str(len(IDS)).encode())
            else:
                COUNT["posts"] += 1
                IDS.add(webhook_id)
                self.transport.write(NO_CONTENT)

    def _answer(self, body: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
